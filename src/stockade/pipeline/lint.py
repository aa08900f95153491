"""Lint: load a pipeline and also report what is valid but will not run yet (reserved keys)."""

from __future__ import annotations

from dataclasses import dataclass

from stockade.pipeline.loader import PIPELINE_FILENAME, load_document
from stockade.pipeline.models import Pipeline
from stockade.pipeline.problems import Problem
from stockade.pipeline.units import format_duration


@dataclass(frozen=True)
class LintReport:
    """A valid pipeline and its warnings (located like errors)."""

    pipeline: Pipeline
    warnings: list[Problem]


def lint_pipeline(text: str, filename: str = PIPELINE_FILENAME) -> LintReport:
    """Validate like :func:`load_pipeline` (raising :class:`PipelineError`), then warn."""
    pipeline, doc = load_document(text, filename)
    warnings = [
        doc.problem(("jobs", name, key),
                    f"{key!r} is reserved for a later version: this job will be refused until "
                    "it is supported", f"remove `{key}` to run the job now", key=True)
        for name, job in pipeline.jobs.items()
        for key in job.reserved_in_use()
    ]
    for name, job in pipeline.jobs.items():
        for index, step in enumerate(job.steps):
            if step.timeout is not None and step.timeout > job.timeout:
                warnings.append(doc.problem(
                    ("jobs", name, "steps", index, "timeout"),
                    f"longer than the job's timeout ({format_duration(job.timeout)}), "
                    "which stops it first",
                    "shorten the step's timeout or lengthen the job's"))
    return LintReport(pipeline, sorted(warnings, key=lambda w: (w.line, w.column)))
