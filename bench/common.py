"""Helpers every benchmark section shares: timing samples, percentiles, one table format.

A section records :class:`Sample` lists and prints them with :func:`print_table`; figures are
milliseconds. Nothing here asserts a speed: the sections print targets beside the figures.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()
if not console.is_terminal:
    console = Console(width=120)  # CI logs: keep the table on one line per row
RUNS = int(os.environ.get("BENCH_RUNS", "30"))  # at least 30 per figure unless overridden


@dataclass(frozen=True)
class Sample:
    """One measured quantity: its label and every run's value in milliseconds."""

    label: str
    values_ms: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values_ms)

    @property
    def p95(self) -> float:
        """Nearest-rank 95th percentile (an observed value, never an interpolation)."""
        ordered = sorted(self.values_ms)
        return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def time_runs(label: str, action: Callable[[], object], runs: int = RUNS, warmup: int = 2) -> Sample:
    """Run ``action`` ``warmup`` times untimed, then ``runs`` times timed."""
    for _ in range(warmup):
        action()
    values = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        values.append((time.perf_counter() - started) * 1000)
    return Sample(label, tuple(values))


def fmt(value: float | None) -> str:
    """Milliseconds with a sensible number of digits, or a dash when not measured."""
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain Rich table (readable in a terminal and in a CI log)."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def git_repo(path: Path, pipeline: str) -> tuple[Path, str]:
    """A one-commit git repository at ``path`` holding ``pipeline``; (path, commit sha)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@invalid"}
    path.mkdir(parents=True)
    (path / ".stockade.yml").write_text(pipeline)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env)
    sha = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return path, sha
