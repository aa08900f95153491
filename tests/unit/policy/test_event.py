"""Events are validated strictly, from Python and from JSON files with positions."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stockade.policy import EventError, load_event, load_event_file
from tests.unit.policy.helpers import event

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_defaults_and_derived_tag() -> None:
    e = event()
    assert (e.fork, e.author_association, e.actor) == (False, "NONE", "")
    assert e.tag is False
    assert event(ref="refs/tags/v1").tag is True


@pytest.mark.parametrize(
    "fields",
    [
        {"event": "release"},
        {"ref": "main"},
        {"sha": "abc"},
        {"sha": SHA.upper()},
        {"author_association": "member"},
        {"fork": "true"},
        {"fork": True},  # only a pull_request can come from a fork
        {"extra": 1},
        {"repository": ""},
    ],
)
def test_invalid_events_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        event(**fields)


def test_event_json_errors_are_located() -> None:
    text = ('{\n  "event": "push",\n  "repository": "acme/app",\n  "ref": "main",\n'
            f'  "sha": "{SHA}",\n  "fork": false,\n  "tier": "release"\n}}\n')
    with pytest.raises(EventError) as caught:
        load_event(text, "ev.json")
    found = [str(p) for p in caught.value.problems]
    assert found[0].startswith("ev.json:4:10: ref: a string ('main') is not allowed here")
    assert found[1].startswith("ev.json:7:3: tier: unknown key 'tier'")
    assert caught.value.code == "invalid_event"


def test_broken_json_has_a_position() -> None:
    with pytest.raises(EventError) as caught:
        load_event('{"event": "push",\n "ref": }', "ev.json")
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (2, 9)
    assert problem.message.startswith("JSON:")


def test_duplicate_json_keys_are_refused() -> None:
    with pytest.raises(EventError, match="duplicate key 'event'"):
        load_event('{"event": "push", "event": "manual"}')


def test_json_that_yaml_cannot_read_still_validates(tmp_path: Path) -> None:
    path = tmp_path / "ev.json"
    path.write_text('{\n\t"event": "manual", "repository": "acme/app",\n'
                    f'\t"ref": "refs/heads/main", "sha": "{SHA}"}}\n')
    assert load_event_file(path).event == "manual"


def test_not_an_object() -> None:
    with pytest.raises(EventError, match="an event is a JSON object"):
        load_event("[1, 2]")
