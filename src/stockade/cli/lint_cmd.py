"""``stockade lint [DIR]``: check a pipeline file and print every problem with its position."""

from __future__ import annotations

from pathlib import Path

import typer

from stockade.errors import InvalidInput
from stockade.pipeline import PIPELINE_FILENAME, PipelineError, format_duration
from stockade.pipeline.lint import lint_pipeline
from stockade.pipeline.loader import read_text_file
from stockade.pipeline.problems import Problem


def register(app: typer.Typer) -> None:
    """Add ``stockade lint`` to the root app."""
    app.command("lint")(lint)


def print_problems(problems: list[Problem], *, label: str = "") -> None:
    """Each problem on its own line (``file:line:col: field: message``), its hint beneath."""
    for problem in problems:
        field = f"{problem.field}: " if problem.field else ""
        typer.echo(f"{problem.file}:{problem.line}:{problem.column}: {label}{field}"
                   f"{problem.message}")
        if problem.hint:
            typer.echo(f"    hint: {problem.hint}")


def lint(
    path: Path = typer.Argument(
        Path("."), help=f"A directory holding {PIPELINE_FILENAME}, or a pipeline file."
    ),
) -> None:
    """Check a pipeline file; exit 2 and list every problem when it is not valid."""
    file = path / PIPELINE_FILENAME if path.is_dir() else path
    try:
        report = lint_pipeline(read_text_file(file, PipelineError), str(file))
    except PipelineError as exc:
        print_problems(exc.problems)
        count = len(exc.problems)
        raise InvalidInput(f"{file}: {count} problem{'s' if count > 1 else ''}",
                           hint="fix each problem listed above, then lint again") from None
    print_problems(report.warnings, label="warning: ")
    pipeline = report.pipeline
    jobs = len(pipeline.jobs)
    typer.echo(f"{file}: ok, {jobs} job{'s' if jobs > 1 else ''}: "
               + " → ".join(pipeline.order()))
    for name in pipeline.order():
        job = pipeline.jobs[name]
        steps = len(job.steps)
        needs = f", needs {', '.join(job.needs)}" if job.needs else ""
        tier = f", tier {job.tier}" if job.tier else ""
        typer.echo(f"  {name}: image {job.image}, {steps} step{'s' if steps > 1 else ''}, "
                   f"timeout {format_duration(job.timeout)}{tier}{needs}")
