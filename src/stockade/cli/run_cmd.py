"""``stockade run [DIR]``: run a local working tree's pipeline through a real, embedded Stockade.

Nothing is short-circuited: a server subprocess on a free loopback port (its data in a temporary
directory, sharing only the image store of ``$STOCKADE_HOME``), agents as subprocesses for the
pools the run needs, the run submitted over HTTP and its logs followed over SSE. Exit codes:
0 success, 1 pipeline failed, 2 invalid input, 3 infrastructure failure.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from stockade.cli.client import ApiClient, read_token
from stockade.cli.logview import RunLogView, exit_code_for_run, summary_table
from stockade.cli.main import EXIT_INFRA, EXIT_OK, exit_code_for
from stockade.cli.policy_pools import pools_for_run, resolve_policy_file
from stockade.cli.snapshot import SourceCommit, source_commit
from stockade.cli.stack import Child, Stack
from stockade.config import load_settings
from stockade.errors import (
    Forbidden,
    InfrastructureError,
    InvalidInput,
    PolicyDenied,
    StockadeError,
)

console = Console()
err = Console(stderr=True)


def ensure_images(images_dir: Path, names: set[str]) -> None:
    """Every image the pipeline names must exist; ``default`` is built on first use."""
    from stockade.images.errors import ImageNotFound
    from stockade.images.store import ImageStore

    store = ImageStore(images_dir)
    for name in sorted(names):
        try:
            store.resolve(name)
            continue
        except ImageNotFound:
            if name != "default":
                raise InvalidInput(
                    f"image {name!r} is not in {images_dir}",
                    hint="build or import it first (`stockade image ls` shows what exists)",
                ) from None
        build_default_with_progress(store)


def build_default_with_progress(store: Any) -> None:
    """Build the default runner image with a Rich progress bar (the first run takes minutes)."""
    from stockade.images.build import build_default_image

    with Progress(
        TextColumn("[bold]default image[/]"), BarColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=err, transient=False,
    ) as progress:
        task = progress.add_task("starting", total=1.0)

        def report(message: str, fraction: float | None) -> None:
            if fraction is None:
                progress.update(task, description=message)
            else:
                progress.update(task, description=message, completed=fraction)

        build_default_image(store, progress=report)


def run(
    directory: Path = typer.Argument(Path(), help="A git working directory [default: .]."),
    tier: str = typer.Option("", "--tier", help="Run as this lower tier."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy file to use instead."),
    concurrency: int = typer.Option(2, "--concurrency", min=1, max=16, help="Jobs run at once."),
    keep: bool = typer.Option(False, "--keep", help="Keep the embedded server's data directory."),
) -> None:
    """Run the pipeline of a local working tree end to end and stream its logs."""
    from stockade.pipeline import PIPELINE_FILENAME, load_pipeline_file

    settings = load_settings()
    source = source_commit(directory.absolute())
    pipeline = load_pipeline_file(source.project / PIPELINE_FILENAME)  # exit 2, file:line:col
    policy_file = resolve_policy_file(policy, settings)
    ensure_images(settings.images_dir, {job.image for job in pipeline.jobs.values()})
    what = "working tree snapshot" if source.snapshot else source.ref
    console.print(f"[bold]stockade run[/] {source.project} @ {source.sha[:12]} ({what})",
                  highlight=False)

    data = Path(tempfile.mkdtemp(prefix="stockade-run-"))
    (data / "images").symlink_to(settings.images_dir.absolute(), target_is_directory=True)
    stack = Stack(home=data, policy_file=policy_file, isolated=True)
    code = EXIT_INFRA  # until _run says otherwise: an exception leaves the logs for a look
    previous = signal.getsignal(signal.SIGTERM)

    def _terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = _run(stack, source, tier=tier, policy_file=policy_file, concurrency=concurrency)
    except StockadeError as exc:
        code = exit_code_for(exc)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop(drain_timeout_s=10.0)
        if keep or code == EXIT_INFRA:
            err.print(f"[dim]server and agent logs kept in {data / 'logs'}[/]")
        else:
            shutil.rmtree(data, ignore_errors=True)
    raise typer.Exit(code)


def _run(
    stack: Stack, source: SourceCommit, *, tier: str, policy_file: str, concurrency: int
) -> int:
    started = time.monotonic()
    api = stack.start_server()
    try:
        body: dict[str, Any] = {
            "repository": str(source.repository), "ref": source.ref, "sha": source.sha,
            "event": "manual",
        }
        if tier:
            body["tier"] = tier
        try:
            run = api.post("/runs", body)
        except (PolicyDenied, Forbidden) as exc:
            # What the policy refuses here is the user's --tier (or the file's tiers): input.
            raise InvalidInput(exc.message, hint=exc.hint) from exc
        console.print(f"run [bold]{run['id']}[/] tier={run.get('tier')} pool={run.get('pool')}"
                      f" (policy rule {run.get('rule')!r})", highlight=False)
        for pool in pools_for_run(policy_file, str(run.get("tier", ""))):
            stack.start_agent(api, pool, concurrency=concurrency, drain_timeout_s=10.0)
        watchdog = _Watchdog(stack, run["id"])
        watchdog.start()
        try:
            final = RunLogView(api, run["id"], console).follow()
        finally:
            watchdog.stop()
        child = watchdog.died
        if child is not None:
            raise InfrastructureError(
                f"{child.name} exited with status {child.exit_code()} during the run",
                hint=f"full log: {child.log_path}",
            )
    except InfrastructureError:
        for proc in [stack.server, *stack.agents.values()]:
            if proc is not None and proc.exit_code() not in (None, 0):
                err.print(f"[red]{proc.name} exited with {proc.exit_code()}[/]:\n{proc.tail()}")
        raise
    finally:
        api.close()
    console.print(summary_table(final))
    code = exit_code_for_run(final)
    verdict = "[green]passed[/]" if code == EXIT_OK else "[red]did not pass[/]"
    console.print(f"pipeline {verdict} in {time.monotonic() - started:.1f}s")
    return code


class _Watchdog:
    """Ends the run (cancel) when an agent process dies, so `run` never waits forever."""

    def __init__(self, stack: Stack, run_id: str) -> None:
        self._stack = stack
        self._run_id = run_id
        self._stop = threading.Event()
        self.died: Child | None = None
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            dead = [c for c in self._stack.agents.values() if c.exit_code() is not None]
            if dead:
                self.died = dead[0]
                api = ApiClient(self._stack.url, read_token(self._stack.settings))
                try:
                    api.post(f"/runs/{self._run_id}/cancel")
                except StockadeError:
                    pass  # the server may be gone too; the log stream then fails on its own
                finally:
                    api.close()
                return


def register(app: typer.Typer) -> None:
    app.command("run")(run)
