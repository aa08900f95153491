"""Client commands against a running server: submit, runs, logs, cancel, token, agents."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from stockade.cli.client import ApiClient
from stockade.cli.logview import RunLogView, exit_code_for_run, styled, summary_table
from stockade.config import load_settings
from stockade.errors import InvalidInput

console = Console()
token_app = typer.Typer(no_args_is_help=True,
                        help="API tokens, agent registration tokens, job token revocation.")

_SERVER = typer.Option("", "--server", help="Server URL [default: STOCKADE_SERVER_URL].")


def _api(server: str) -> ApiClient:
    return ApiClient.from_settings(load_settings(), server)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise InvalidInput(
            f"git {args[0]} in {repo} failed: {done.stderr.strip()}",
            hint="pass a git working directory, or --repo URL with --sha",
        )
    return done.stdout.strip()


def resolve_source(directory: Path | None, repo: str, ref: str, sha: str) -> tuple[str, str, str]:
    """(repository, ref, sha) for a submit: from a local clone, or a URL plus ref/sha."""
    if repo:
        if not sha:
            listed = subprocess.run(
                ["git", "ls-remote", "--", repo, ref or "HEAD"],
                capture_output=True, text=True, check=False,
                env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"},
            )
            sha = listed.stdout.split()[0] if listed.returncode == 0 and listed.stdout else ""
            if not sha:
                raise InvalidInput(f"cannot resolve {ref or 'HEAD'} in {repo}", hint="pass --sha")
        return repo, ref or "HEAD", sha
    root = Path(_git((directory or Path()).absolute(), "rev-parse", "--show-toplevel"))
    sha = sha or _git(root, "rev-parse", "HEAD")
    if not ref:
        ref = _git(root, "symbolic-ref", "-q", "HEAD") if _has_branch(root) else "HEAD"
    if _git(root, "status", "--porcelain"):
        console.print("[yellow]note:[/] the working tree has uncommitted changes; "
                      "submitting the commit only (`stockade run` includes them)")
    return str(root), ref, sha


def _has_branch(root: Path) -> bool:
    return subprocess.run(
        ["git", "-C", str(root), "symbolic-ref", "-q", "HEAD"], capture_output=True, check=False
    ).returncode == 0


def submit(  # noqa: PLR0917 (Typer maps parameters to options)
    directory: Path | None = typer.Argument(None, help="A git working directory [default: .]."),
    repo: str = typer.Option("", "--repo", help="Repository URL or path instead of DIR."),
    ref: str = typer.Option("", "--ref", help="Ref to record [default: the current branch]."),
    sha: str = typer.Option("", "--sha", help="Commit [default: HEAD of DIR / ref of --repo]."),
    tier: str = typer.Option("", "--tier", help="Run as this lower tier."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Stream the logs until the end."),
    server: str = _SERVER,
) -> None:
    """Submit a run of a commit to the server."""
    repository, ref, sha = resolve_source(directory, repo, ref, sha)
    body: dict[str, Any] = {"repository": repository, "ref": ref, "sha": sha, "event": "manual"}
    if tier:
        body["tier"] = tier
    with _api(server) as api:
        run = api.post("/runs", body)
        console.print(f"run [bold]{run['id']}[/] {styled(run.get('status'))} "
                      f"tier={run.get('tier')} pool={run.get('pool')} sha={sha[:12]}")
        if follow:
            final = RunLogView(api, run["id"], console).follow()
            console.print(summary_table(final))
            raise typer.Exit(exit_code_for_run(final))


def runs(
    limit: int = typer.Option(20, "--limit", min=1, max=500),
    server: str = _SERVER,
) -> None:
    """List recent runs, newest first."""
    with _api(server) as api:
        answer = api.get(f"/runs?limit={limit}")
    table = Table()
    for column in ("run", "status", "repository", "ref", "sha", "tier", "created"):
        table.add_column(column)
    for run in answer.get("runs", []):
        table.add_row(
            run["id"], styled(run.get("status")), str(run.get("repository", "")),
            str(run.get("ref", "")), str(run.get("sha", ""))[:12], str(run.get("tier", "")),
            str(run.get("created_at", "")),
        )
    console.print(table)


def logs(
    run_id: str = typer.Argument(..., metavar="RUN"),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep streaming until the end."),
    server: str = _SERVER,
) -> None:
    """Print a run's logs with job and step headers (exit code from the run's result)."""
    with _api(server) as api:
        view = RunLogView(api, run_id, console)
        run = view.follow() if follow else view.dump()
    console.print(summary_table(run))
    if follow:
        raise typer.Exit(exit_code_for_run(run))


def cancel(run_id: str = typer.Argument(..., metavar="RUN"), server: str = _SERVER) -> None:
    """Cancel a run: queued jobs never start, running ones are stopped."""
    with _api(server) as api:
        run = api.post(f"/runs/{run_id}/cancel")
    console.print(f"run [bold]{run['id']}[/] {styled(run.get('status'))}")


def agents(server: str = _SERVER) -> None:
    """List registered agents."""
    with _api(server) as api:
        answer = api.get("/agents")
    table = Table()
    for column in ("agent", "name", "pool", "state", "last seen"):
        table.add_column(column)
    for agent in answer.get("agents", []):
        table.add_row(agent["id"], agent["name"], agent["pool"], str(agent.get("state", "")),
                      str(agent.get("last_seen", "")))
    console.print(table)


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., "--name"),
    role: str = typer.Option(..., "--role", help="admin, maintainer or viewer"),
    server: str = _SERVER,
) -> None:
    """Create an API token (printed once; the server keeps only its hash)."""
    with _api(server) as api:
        made = api.post("/tokens", {"name": name, "role": role})
    console.print(f"token [bold]{made['name']}[/] ({made['role']}), id {made['id']}:",
                  highlight=False)
    print(made["token"])  # plain stdout, so `$(stockade token create ...)`-style capture works


@token_app.command("ls")
def token_ls(server: str = _SERVER) -> None:
    """List API tokens (never their values)."""
    with _api(server) as api:
        answer = api.get("/tokens")
    table = Table()
    for column in ("id", "name", "role", "created"):
        table.add_column(column)
    for token in answer.get("tokens", []):
        table.add_row(token["id"], token["name"], token["role"], str(token.get("created_at", "")))
    console.print(table)


@token_app.command("registration")
def token_registration(
    pool: str = typer.Option(..., "--pool"),
    ttl: int = typer.Option(600, "--ttl", min=10, max=86400, help="Seconds it stays valid."),
    server: str = _SERVER,
) -> None:
    """Create a single-use registration token for an agent of POOL."""
    with _api(server) as api:
        made = api.post("/agents/registration-tokens", {"pool": pool, "ttl_s": ttl})
    print(made["token"])


def _epoch(text: str, flag: str) -> float | None:
    """Epoch seconds from ``text``: a number, or an ISO 8601 time (UTC unless it says)."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"{flag} {text!r} is not a time",
            hint="give epoch seconds or ISO 8601, e.g. 2026-12-09T10:00:00Z",
        ) from exc
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@token_app.command("revoke")
def token_revoke(  # noqa: PLR0917 (Typer maps parameters to options)
    jti: str = typer.Option("", "--jti", help="One job token, by its jti claim."),
    job: str = typer.Option("", "--job", help="Every token of a job (job id)."),
    run: str = typer.Option("", "--run", help="Every token of a run (run id)."),
    agent: str = typer.Option("", "--agent", help="Every token minted for jobs on an agent."),
    issued_after: str = typer.Option("", "--issued-after", help="Window start (epoch or ISO)."),
    issued_before: str = typer.Option("", "--issued-before", help="Window end (epoch or ISO)."),
    reason: str = typer.Option("", "--reason", help="Why (recorded and published)."),
    server: str = _SERVER,
) -> None:
    """Revoke job ID tokens: the broker refuses them and relying parties see them listed."""
    chosen = {k: v for k, v in (("jti", jti), ("job", job), ("run", run), ("agent", agent)) if v}
    window = bool(issued_after or issued_before)
    if len(chosen) + window != 1:
        raise InvalidInput("give exactly one of --jti, --job, --run, --agent or a time window",
                           hint="e.g. stockade token revoke --job job_0123abcd")
    body: dict[str, Any] = {"reason": reason}
    if window:
        body |= {"kind": "window",
                 "issued_after": _epoch(issued_after, "--issued-after"),
                 "issued_before": _epoch(issued_before, "--issued-before")}
    else:
        ((kind, value),) = chosen.items()
        body |= {"kind": kind, "value": value}
    with _api(server) as api:
        made = api.post("/revocations", body)
    console.print(f"revoked ({made['kind']} {made.get('value') or ''}), id {made['id']}",
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("runs")(runs)
    app.command("logs")(logs)
    app.command("cancel")(cancel)
    app.command("agents")(agents)
    app.add_typer(token_app, name="token")
