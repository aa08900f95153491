"""``stockade doctor``: what this host supports for sandboxes, and which backends can run."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console

from stockade.config import load_settings
from stockade.errors import SandboxUnavailable
from stockade.sandbox.doctor import host_report

console = Console()


def register(app: typer.Typer) -> None:
    """Add the ``doctor`` command to the root app."""
    app.command("doctor")(doctor)


def doctor(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Report runtimes, cgroup version, user namespaces, seccomp and each backend's verdict."""
    report = host_report()
    configured = load_settings().sandbox_backend
    if as_json:
        print(json.dumps({**asdict(report), "configured_backend": configured}, indent=2))
    else:
        ok, bad = "[green]yes[/]", "[red]no[/]"
        missing = f" (missing: {', '.join(report.cgroup_missing)})" if report.cgroup_missing else ""
        console.print(f"cgroups:          {report.cgroup_mode}{missing}")
        console.print(f"user namespaces:  {ok if report.user_namespaces else bad} "
                      f"(max {report.max_user_namespaces})")
        console.print(f"seccomp:          kernel {ok if report.seccomp_kernel else bad}, "
                      f"{report.seccomp_library}")
        net = ok if report.job_network == "usable" else f"[red]{report.job_network}[/]"
        console.print(f"job network:      {net} (per job: loopback and a proxy listener)")
        console.print("backends:")
        for v in report.backends:
            mark = "[green]usable[/]" if v.usable else "[red]unavailable[/]"
            star = "*" if v.backend == configured else " "
            console.print(f" {star} {v.backend:6} {mark} {v.version}", highlight=False)
            for line in (*v.reasons, *v.notes):
                console.print(f"           - {line}", highlight=False)
        console.print("(* = configured backend, STOCKADE_SANDBOX_BACKEND)")
    if not report.usable(configured):
        raise SandboxUnavailable(
            f"the configured sandbox backend {configured} cannot run on this host",
            hint="pick a usable backend with STOCKADE_SANDBOX_BACKEND, or fix what it lists",
        )
