"""``stockade up``: the server and one agent per pool of the policy, supervised, on one machine.

Every part is its own process speaking the same HTTP API as remote agents; data lives in
``$STOCKADE_HOME`` (default ``./.stockade``). A crashed agent is restarted with a fresh
registration token (with a growing delay if it keeps crashing); a crashed server is restarted.
Ctrl-C or SIGTERM drains the agents (running jobs finish, up to ``--drain-timeout``), kills any
still running 5 s past it (and says so), then stops the server; nothing is restarted meanwhile.
"""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from stockade.cli.policy_pools import all_pools, resolve_policy_file
from stockade.cli.stack import Stack
from stockade.config import load_settings
from stockade.errors import StockadeError
from stockade.stopsignal import StopSignals

console = Console()
_MAX_BACKOFF_S = 60.0


def up(
    policy: str = typer.Option("", "--policy", help="Policy file [default: see docs/cli.md]."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="Jobs per agent."),
    drain_timeout: float = typer.Option(300.0, "--drain-timeout", help="Seconds to let jobs end."),
) -> None:
    """Run the server and an agent for each pool, until Ctrl-C (which drains them)."""
    from pathlib import Path

    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    policy_file = resolve_policy_file(Path(policy) if policy else None, settings)
    stack = Stack(
        home=settings.home, host=settings.listen_host, port=settings.listen_port,
        policy_file=policy_file,
    )
    # Installed before any child exists; the handler only records the signal (see stopsignal).
    stop = StopSignals().install()
    try:
        api = stack.start_server()
        pools = all_pools(policy_file)
        for pool in pools:
            if stop.received is None:
                stack.start_agent(api, pool, concurrency=concurrency,
                                  drain_timeout_s=drain_timeout)
        if stop.received is None:
            _show(stack, policy_file, pools)
            _supervise(stack, concurrency=concurrency, drain_timeout=drain_timeout, stop=stop)
        console.print(f"\n{stop.name}: draining agents, then stopping the server")
    finally:
        # Bounded: one shared drain deadline for every agent, then SIGKILL what is left.
        killed = stack.stop(drain_timeout_s=drain_timeout + 5.0)
        if killed:
            console.print(f"[red]killed {', '.join(killed)}: not stopped within "
                          f"{drain_timeout + 5.0:.0f}s of SIGTERM[/]")
        console.print("stopped")


def _show(stack: Stack, policy_file: str, pools: list[str]) -> None:
    table = Table(title="Stockade is up", title_justify="left", show_header=False)
    table.add_row("server", stack.url)
    table.add_row("data", str(stack.home))
    table.add_row("policy", policy_file)
    table.add_row("admin token", f"{stack.home / 'admin.token'} (mode 0600)")
    for pool in pools:
        agent = stack.agents[pool]
        table.add_row(f"agent {pool}", f"pid {agent.pid}, log {agent.log_path}")
    table.add_row("server log", str(stack.home / "logs" / "server.log"))
    console.print(table)
    console.print("submit a run: [bold]stockade submit DIR[/]  ·  watch: [bold]stockade runs[/]"
                  "  ·  stop: Ctrl-C")


def _supervise(
    stack: Stack, *, concurrency: int, drain_timeout: float, stop: StopSignals
) -> None:
    """Restart what dies, with a delay that doubles while it keeps dying, until ``stop``.

    Nothing is restarted once a signal came: an agent exiting then is draining, not crashing.
    """
    backoff: dict[str, float] = {}
    due: dict[str, float] = {}
    while not stop.wait(0.5):
        server = stack.server
        if server is not None and server.exit_code() is not None:
            console.print(f"[red]server exited with {server.exit_code()}; restarting[/]")
            api = stack.start_server()
            api.close()
        for pool, agent in stack.agents.items():
            code = agent.exit_code()
            if code is None:
                continue
            now = time.monotonic()
            if pool not in due:
                delay = backoff.get(pool, 0.5)
                due[pool] = now + delay
                backoff[pool] = min(delay * 2, _MAX_BACKOFF_S)
                console.print(f"[yellow]agent {pool} exited with {code}; restarting in "
                              f"{delay:.1f}s[/] (log {agent.log_path})")
            if now >= due[pool] and stop.received is None:
                del due[pool]
                try:
                    api = stack.wait_server(10.0)
                    stack.start_agent(api, pool, concurrency=concurrency,
                                      drain_timeout_s=drain_timeout)
                    api.close()
                except StockadeError as exc:
                    console.print(f"[red]cannot restart agent {pool}: {exc.message}[/]")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
