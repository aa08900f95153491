"""Lint warnings: valid pipelines that will not run as their author expects."""

from __future__ import annotations

from stockade.pipeline.lint import lint_pipeline


def test_a_clean_pipeline_has_no_warnings() -> None:
    report = lint_pipeline("version: 1\njobs:\n  a:\n    steps: [{name: s, run: x}]\n")
    assert report.warnings == [] and report.pipeline.order() == ["a"]


def test_reserved_keys_warn_at_their_key() -> None:
    report = lint_pipeline(
        "version: 1\njobs:\n  a:\n    artifacts: [dist/]\n    steps: [{name: s, run: x}]\n")
    (warning,) = report.warnings
    assert (warning.line, warning.column, warning.field) == (4, 5, "jobs.a.artifacts")


def test_a_step_timeout_past_the_job_timeout_warns() -> None:
    report = lint_pipeline("version: 1\njobs:\n  a:\n    timeout: 5m\n"
                           "    steps: [{name: s, run: x, timeout: 10m}]\n")
    (warning,) = report.warnings
    assert warning.field == "jobs.a.steps[0].timeout"
    assert warning.message == "longer than the job's timeout (5m), which stops it first"
