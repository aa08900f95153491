"""Print a run's logs with job and step headers, from the stored lines or the live SSE stream."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from stockade.cli.client import ApiClient
from stockade.cli.main import EXIT_FAILED, EXIT_INFRA, EXIT_INVALID, EXIT_OK

FINAL_RUN = {"success", "failed", "cancelled"}
_FAILED = {"failed", "timeout", "oom", "limit"}
_INFRA = {"infra", "lost"}
_STYLE = {
    "success": "green", "failed": "red", "timeout": "red", "oom": "red", "limit": "red",
    "cancelled": "yellow", "skipped": "dim", "lost": "magenta", "infra": "magenta",
    "denied": "red", "running": "cyan", "queued": "dim", "pending": "dim", "leased": "cyan",
}


def exit_code_for_run(run: dict[str, Any]) -> int:
    """0 success; 1 a job failed or the run was cancelled; 3 infrastructure; 2 denied input."""
    statuses = {job.get("status") for job in run.get("jobs", [])}
    if run.get("status") == "success":
        return EXIT_OK
    if statuses & _FAILED:
        return EXIT_FAILED
    if statuses & _INFRA:
        return EXIT_INFRA
    if "denied" in statuses:
        return EXIT_INVALID
    return EXIT_FAILED


def styled(status: str | None) -> Text:
    value = status or "-"
    return Text(value, style=_STYLE.get(value, ""))


class RunLogView:
    """Renders the log lines of one run, with a header whenever the job or step changes."""

    def __init__(self, api: ApiClient, run_id: str, console: Console) -> None:
        self._api = api
        self._run_id = run_id
        self._console = console
        self._jobs: dict[str, dict[str, Any]] = {}
        self._current: tuple[str, int] | None = None  # (job_id, attempt)
        self._step: int | None = None
        self.lines = 0
        self.first_line_at: float | None = None

    def run(self) -> dict[str, Any]:
        """The run as the server sees it now (also refreshes job and step names)."""
        run: dict[str, Any] = self._api.get(f"/runs/{self._run_id}")
        self._jobs = {job["id"]: job for job in run.get("jobs", [])}
        return run

    def dump(self) -> dict[str, Any]:
        """Print every stored line once; returns the run."""
        run = self.run()
        after = -1
        while True:
            page = self._api.get(f"/runs/{self._run_id}/logs?after={after}")
            lines = page.get("lines", [])
            for line in lines:
                self.show(line)
            if not lines or page.get("done"):
                return run
            after = max(int(line["cursor"]) for line in lines)

    def follow(self) -> dict[str, Any]:
        """Print lines as they arrive until the run is final; returns the final run."""
        self.run()
        for event in self._api.stream_events(f"/runs/{self._run_id}/logs?follow=true"):
            if event.event == "end":
                break
            if isinstance(event.data, dict) and "job_id" in event.data:
                self.show(event.data)
        run = self.run()
        # The stream ends with the run; a last look makes sure the summary sees final states.
        deadline = time.monotonic() + 10.0
        while run.get("status") not in FINAL_RUN and time.monotonic() < deadline:
            time.sleep(0.2)
            run = self.run()
        return run

    def show(self, line: dict[str, Any]) -> None:
        """Print one LogLine, preceded by the job and step headers it needs."""
        if self.first_line_at is None:
            self.first_line_at = time.monotonic()
        self.lines += 1
        job_id, attempt, step = line["job_id"], int(line.get("attempt", 1)), int(line["step"])
        if job_id not in self._jobs:
            self.run()
        job = self._jobs.get(job_id, {"name": job_id, "steps": []})
        if self._current != (job_id, attempt):
            self._current, self._step = (job_id, attempt), None
            retry = f" (attempt {attempt})" if attempt > 1 else ""
            self._console.rule(Text(f"job {job['name']}{retry}", style="bold"), align="left")
        if step >= 0 and step != self._step:
            self._step = step
            names = {s["index"]: s["name"] for s in job.get("steps", [])}
            if step not in names:
                names = {s["index"]: s["name"] for s in self._refresh(job_id).get("steps", [])}
            title = names.get(step, f"step {step}")
            self._console.print(Text(f"▸ {title}", style="bold cyan"))
        text = Text(line.get("text", ""))
        if line.get("stream") == "system":
            text.stylize("dim")
        elif line.get("stream") == "stderr":
            text.stylize("yellow")
        self._console.print(text, soft_wrap=True, highlight=False, markup=False)

    def _refresh(self, job_id: str) -> dict[str, Any]:
        self.run()
        return self._jobs.get(job_id, {})


def summary_table(run: dict[str, Any]) -> Table:
    """One row per job: status, attempts, duration and why it ended."""
    table = Table(title=f"run {run['id']}: {run.get('status')}", title_justify="left")
    for column in ("job", "status", "attempt", "duration", "detail"):
        table.add_column(column)
    for job in run.get("jobs", []):
        duration = ""
        if job.get("started_at") and job.get("finished_at"):
            duration = f"{_seconds(job['finished_at']) - _seconds(job['started_at']):.1f}s"
        table.add_row(
            job["name"], styled(job.get("status")), str(job.get("attempt", "")), duration,
            Text(str(job.get("detail") or "")),
        )
    return table


def _seconds(stamp: Any) -> float:
    if isinstance(stamp, int | float):
        return float(stamp)
    from datetime import datetime

    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
