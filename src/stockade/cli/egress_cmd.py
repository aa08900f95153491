"""``stockade egress RUN`` and ``stockade egress suggest RUN``: a run's network decisions."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from stockade.cli.client import ApiClient
from stockade.cli.human import human_size
from stockade.config import load_settings
from stockade.errors import InvalidInput

console = Console()


def egress(
    first: str = typer.Argument(..., metavar="[suggest] RUN"),
    second: str = typer.Argument("", metavar="", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON."),
    server: str = typer.Option("", "--server", help="Server URL [default: STOCKADE_SERVER_URL]."),
) -> None:
    """Every connection a run's jobs made or tried, allowed or denied, and why.

    `stockade egress suggest RUN` prints the allowlist that would have let the run pass (run it
    in audit mode first), ready for the tier's `egress:` in the policy or the job's pipeline.
    """
    suggest = first == "suggest"
    run_id = second if suggest else first
    if not run_id or (second and not suggest):
        raise InvalidInput("usage: stockade egress RUN | stockade egress suggest RUN",
                           hint="name one run id (see `stockade runs`)")
    with ApiClient.from_settings(load_settings(), server) as api:
        answer = api.get(f"/runs/{run_id}/egress" + ("/suggest" if suggest else ""))
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    if suggest:
        _print_suggestion(answer)
        return
    table = Table()
    for column in ("job", "kind", "host", "port", "ip", "decision", "reason", "up", "down",
                   "time"):
        table.add_column(column)
    for e in answer.get("events", []):
        decision = e["decision"] + (" (audit: would deny)" if e.get("would_deny") else "")
        style = "red" if e["decision"] == "deny" else ("yellow" if e.get("would_deny") else "green")
        table.add_row(e["job"], e["kind"], e["host"], str(e["port"]), e.get("ip") or "",
                      f"[{style}]{decision}[/]", e["reason"], human_size(e["bytes_up"]),
                      human_size(e["bytes_down"]), f"{e['duration_s']:.2f}s")
    console.print(table)
    console.print(f"{answer.get('allowed', 0)} allowed, {answer.get('denied', 0)} denied, "
                  f"{answer.get('would_deny', 0)} would be denied in enforce mode")


def _print_suggestion(answer: dict[str, object]) -> None:
    allow = answer.get("allow") or []
    refused = answer.get("refused") or []
    assert isinstance(allow, list) and isinstance(refused, list)
    if not allow:
        console.print("# nothing to add: every connection of this run was allowed", highlight=False)
    else:
        console.print("# the allowlist this run needed (tier `egress:` in the policy, or the "
                      "job's `egress:`)", highlight=False)
        print("egress:")
        for entry in allow:
            print(f"  - {entry}")
    if refused:
        console.print("# refused by address rules (private, loopback, link-local, ...); no "
                      "allowlist entry lets these through, only the tier's egress_allow_cidrs:",
                      highlight=False)
        for entry in refused:
            console.print(f"#   {entry}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("egress")(egress)
