"""``stockade sandbox exec``: one command in a fresh sandbox, like ``docker run --rm``."""

from __future__ import annotations

import shlex
import signal
import sys
import threading

import typer

from stockade.config import load_settings
from stockade.errors import InfrastructureError
from stockade.images.store import ImageStore
from stockade.sandbox.executor import Executor
from stockade.sandbox.interface import JobSpec, Outcome, OutputLine, Resources, StepSpec
from stockade.sandbox.units import parse_duration, parse_size

sandbox_app = typer.Typer(no_args_is_help=True, help="Debug the job sandbox.")

# Exit codes for outcomes that have no exit code of their own (as timeout(1) and shells do).
_EXIT_FOR = {Outcome.TIMEOUT: 124, Outcome.OOM: 137, Outcome.CANCELLED: 130}


def register(app: typer.Typer) -> None:
    """Add the ``sandbox`` command group to the root app."""
    app.add_typer(sandbox_app, name="sandbox")


def _print(line: OutputLine) -> None:
    out = sys.stdout if line.stream == "stdout" else sys.stderr
    prefix = "stockade: " if line.stream == "system" else ""
    out.write(f"{prefix}{line.text}\n")
    out.flush()


@sandbox_app.command("exec")
def exec_command(  # noqa: PLR0917 - Typer maps each parameter to an option
    command: list[str] = typer.Argument(..., help="Command and arguments (after --)."),
    image: str = typer.Option("default", "--image", help="Image name or sha256: digest."),
    memory: str = typer.Option("1Gi", "--memory", help="Memory limit, e.g. 512Mi."),
    pids: int = typer.Option(512, "--pids", min=8, help="Maximum number of processes."),
    cpus: float = typer.Option(1.0, "--cpus", help="CPU quota in cores."),
    disk: str = typer.Option("1Gi", "--disk", help="Size of /workspace and of /tmp."),
    timeout: str = typer.Option("10m", "--timeout", help="Wall-clock timeout, e.g. 30s."),
    backend: str = typer.Option("", "--backend",
                                help="crun, runc, runsc or bwrap (default: settings)."),
) -> None:
    """Run CMD in a fresh sandbox of an image; stream its output; exit with its exit code."""
    settings = load_settings()
    resources = Resources(cpus=cpus, memory_bytes=parse_size(memory), pids=pids,
                          disk_bytes=parse_size(disk), timeout_s=parse_duration(timeout))
    executor = Executor(ImageStore(settings.images_dir), work_root=settings.work_dir,
                        backend=backend or settings.sandbox_backend)
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        job = JobSpec(job_id="sandbox-exec", image=image,
                      steps=(StepSpec("exec", "exec " + shlex.join(command)),),
                      resources=resources)
        result = executor.run_job(job, None, _print, cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
        executor.close()
    if result.outcome is Outcome.INFRA:
        raise InfrastructureError(f"sandbox failed: {result.detail}",
                                  hint="run `stockade doctor`")
    if result.outcome in _EXIT_FOR:
        raise typer.Exit(_EXIT_FOR[result.outcome])
    code = result.steps[-1].exit_code if result.steps else 1
    raise typer.Exit(code if code is not None else 1)
