"""Located problems in a user's file, and the error that carries all of them.

A problem names the file, the 1-based line and column, the field path (``jobs.test.steps[0].run``),
what is wrong and what would be right. Loading collects every problem it can find before raising,
so one ``stockade lint`` shows them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from stockade.errors import InvalidInput


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, at a position a user can jump to."""

    file: str
    line: int
    column: int
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: "
        field = f"{self.field}: " if self.field else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{field}{self.message}{hint}"


class FileProblems(InvalidInput):
    """A file that failed validation; ``problems`` holds every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("FileProblems needs at least one problem")
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.field))
        first = self.problems[0]
        if len(self.problems) == 1:
            without_hint = Problem(first.file, first.line, first.column, first.field, first.message)
            super().__init__(str(without_hint), hint=first.hint)
        else:
            lines = "\n".join(f"  {p}" for p in self.problems)
            super().__init__(
                f"{len(self.problems)} problems in {first.file}:\n{lines}",
                hint="fix each problem listed; every line says what would be right",
            )

    def to_dict(self) -> dict[str, object]:
        """The API body: the usual error fields plus every located problem."""
        body = super().to_dict()
        body["problems"] = [asdict(p) for p in self.problems]
        return body


class PipelineError(FileProblems):
    """The pipeline file (``.stockade.yml``) is not valid."""

    code = "invalid_pipeline"
