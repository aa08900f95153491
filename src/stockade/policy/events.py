"""Reading an event from JSON (``stockade policy explain FILE EVENT.json``) with located errors."""

from __future__ import annotations

import json
from pathlib import Path

from stockade.pipeline.loader import read_text_file
from stockade.pipeline.located import validate_document
from stockade.pipeline.problems import FileProblems, Problem
from stockade.pipeline.yamldoc import Document, read_yaml
from stockade.policy.schema import Event


class EventError(FileProblems):
    """The event JSON is not valid."""

    code = "invalid_event"


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_event(text: str, filename: str = "event.json") -> Event:
    """Parse and strictly validate one event; raise :class:`EventError` listing every problem."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise EventError([Problem(filename, exc.lineno, exc.colno, "", f"JSON: {exc.msg}",
                                  "write one JSON object")]) from None
    except ValueError as exc:
        raise EventError([Problem(filename, 1, 1, "", str(exc), "write each key once")]) from None
    # JSON is YAML, so the YAML reader gives positions; if it cannot (tabs, say), errors point
    # at line 1 rather than nowhere.
    doc, problems = read_yaml(text, filename)
    if problems or doc.data != data:
        doc = Document(filename, data)
    if not isinstance(data, dict):
        raise EventError([doc.problem((), "an event is a JSON object",
                                      '{"event": "push", "repository": ..., "ref": ..., '
                                      '"sha": ...}')])
    event, problems = validate_document(Event, doc)
    if problems or event is None:
        raise EventError(problems)
    return event


def load_event_file(path: Path) -> Event:
    """Read and load an event JSON file."""
    return load_event(read_text_file(path, EventError), str(path))
