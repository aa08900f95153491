"""Loading ``.stockade.yml``: YAML with positions, schema, job graph; every problem at once."""

from __future__ import annotations

from pathlib import Path

from stockade.pipeline.graph import graph_problems
from stockade.pipeline.located import validate_document
from stockade.pipeline.models import Pipeline
from stockade.pipeline.problems import PipelineError, Problem
from stockade.pipeline.yamldoc import MAX_FILE_BYTES, Document, read_yaml

PIPELINE_FILENAME = ".stockade.yml"


def load_pipeline(text: str, filename: str = PIPELINE_FILENAME) -> Pipeline:
    """Parse and validate a pipeline; raise :class:`PipelineError` listing every problem."""
    return load_document(text, filename)[0]


def load_document(text: str, filename: str = PIPELINE_FILENAME) -> tuple[Pipeline, Document]:
    """Like :func:`load_pipeline`, also returning the positions of everything in the file."""
    doc, problems = read_yaml(text, filename)
    if doc.data is not None and not isinstance(doc.data, dict):
        problems.append(doc.problem((), "the file must be a mapping",
                                    "start with `version: 1` and `jobs:`"))
    if problems:
        raise PipelineError(problems)
    # The graph is checked on the raw data too, so graph problems are reported together with
    # schema problems instead of only after every schema problem is fixed.
    graph = _graph_problems(doc)
    problems.extend(graph)
    # The model's own graph check repeats these, without positions: keep the located ones.
    skip = frozenset({"pipeline_graph"}) if graph else frozenset()
    pipeline, schema_problems = validate_document(Pipeline, doc, skip=skip)
    problems.extend(schema_problems)
    if problems or pipeline is None:
        raise PipelineError(problems)
    return pipeline, doc


def load_pipeline_file(path: Path) -> Pipeline:
    """Read and load a pipeline file; a missing or unreadable file is a :class:`PipelineError`."""
    return load_pipeline(read_text_file(path, PipelineError), str(path))


def read_text_file(path: Path, error: type[PipelineError] | type[Exception]) -> str:
    """The UTF-8 text of a small file, or ``error`` with a located problem."""
    name = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        hint = f"create it, or point at the directory holding {path.name}"
        raise error([Problem(name, 1, 1, "", "file not found", hint)]) from None
    except OSError as exc:
        raise error([Problem(name, 1, 1, "", f"cannot read: {exc.strerror}",
                             "check the path and its permissions")]) from None
    if len(data) > MAX_FILE_BYTES:
        raise error([Problem(name, 1, 1, "", f"file is larger than {MAX_FILE_BYTES} bytes",
                             "a pipeline or policy file is small text; shorten it")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error([Problem(name, line, 1, "", "not valid UTF-8 text",
                             "save the file as UTF-8")]) from None


def _graph_problems(doc: Document) -> list[Problem]:
    """Graph problems of the raw data, looking only at jobs whose ``needs`` is a list of names."""
    jobs = doc.data.get("jobs") if isinstance(doc.data, dict) else None
    if not isinstance(jobs, dict):
        return []
    needs: dict[str, list[str]] = {}
    for name, job in jobs.items():
        wanted = job.get("needs", []) if isinstance(job, dict) else []
        needs[name] = [n for n in wanted if isinstance(n, str)] if isinstance(wanted, list) else []
    return [doc.problem(path, message, hint) for path, message, hint in graph_problems(needs)]
