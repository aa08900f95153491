"""``stockade agent``: run a runner agent for one pool (see docs/agent.md)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import typer

from stockade.config import load_settings
from stockade.errors import InvalidInput
from stockade.sandbox.interface import JobExecutor


def agent(  # noqa: PLR0917 (Typer maps parameters to options)
    pool: str = typer.Option(..., "--pool", help="The pool this agent serves (one only)."),
    registration_token: str = typer.Option(
        ..., "--registration-token", envvar="STOCKADE_REGISTRATION_TOKEN",
        help="Single-use token from `stockade token registration --pool POOL` "
        "(prefer the STOCKADE_REGISTRATION_TOKEN variable: argv is visible to other users).",
        show_default=False,
    ),
    server: str = typer.Option("", "--server", help="Server URL [default: settings.server_url]."),
    name: str = typer.Option("", "--name", help="Agent name [default: host name]."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="Jobs run at once."),
    work_dir: Path | None = typer.Option(
        None, "--work-dir", help="Checkout cache and sandboxes [default: $STOCKADE_HOME/work/POOL]."
    ),
    images_dir: Path | None = typer.Option(
        None, "--images-dir", help="Runner image store [default: $STOCKADE_HOME/images]."
    ),
    backend: str = typer.Option("", "--backend", help="Sandbox backend [default: settings]."),
    drain_timeout: float = typer.Option(
        300.0, "--drain-timeout", help="Seconds a running job may take to finish on SIGTERM."
    ),
    lease_wait: float = typer.Option(20.0, "--lease-wait", min=0, max=60, hidden=True),
) -> None:
    """Serve one pool: long-poll for jobs, run each in a fresh sandbox, drain on SIGTERM."""
    from stockade.agent.log import configure
    from stockade.agent.runner import Agent, AgentConfig

    settings = load_settings()
    # Read once, then gone from the environment every child (git, the runtime) inherits.
    os.environ.pop("STOCKADE_REGISTRATION_TOKEN", None)
    if len(registration_token) < 8:
        raise InvalidInput("the registration token is too short", hint="copy it whole")
    config = AgentConfig(
        server_url=server or settings.server_url,
        pool=pool,
        registration_token=registration_token,
        name=name or f"{socket.gethostname()}-{pool}",
        concurrency=concurrency,
        work_dir=(work_dir or settings.work_dir / pool).absolute(),
        lease_wait_s=lease_wait,
        drain_timeout_s=drain_timeout,
    )
    store_dir = (images_dir or settings.images_dir).absolute()
    sandbox_backend = backend or settings.sandbox_backend

    def make_executor(root: Path) -> JobExecutor:
        from stockade.images.store import ImageStore
        from stockade.sandbox.executor import Executor

        executor: JobExecutor = Executor(
            ImageStore(store_dir), work_root=root, backend=sandbox_backend,
            warm=settings.sandbox_warm,
        )
        return executor

    configure()
    runner = Agent(config, make_executor)
    runner.install_signal_handlers()
    raise typer.Exit(runner.run())


def register(app: typer.Typer) -> None:
    app.command("agent")(agent)
