"""``stockade secret``: store, list and remove the secrets broker's secrets.

A value is read from standard input only, never from the command line (argv is visible to
every user of the host in ``ps``, and lands in shell history).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from stockade.cli.client import ApiClient
from stockade.config import load_settings
from stockade.errors import InvalidInput
from stockade.masking import check_secret

console = Console()
secret_app = typer.Typer(no_args_is_help=True, help="Secrets for jobs (values never shown).")

_SERVER = typer.Option("", "--server", help="Server URL [default: STOCKADE_SERVER_URL].")


def _api(server: str) -> ApiClient:
    return ApiClient.from_settings(load_settings(), server)


def read_value(text: str) -> str:
    """The secret from what standard input held: one trailing newline stripped, never empty,
    never too short to mask."""
    value = text[:-1] if text.endswith("\n") else text
    value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise InvalidInput("no secret value on standard input",
                           hint="pipe it in: printf %s \"$VALUE\" | stockade secret set NAME")
    check_secret(value)
    return value


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@secret_app.command("set")
def secret_set(
    name: str = typer.Argument(..., metavar="NAME", help="Also the step's variable name."),
    secret_class: str = typer.Option("default", "--class", help="The class grants name."),
    server: str = _SERVER,
) -> None:
    """Store NAME with the value read from standard input (replacing any earlier value)."""
    if sys.stdin.isatty():
        console.print("[dim]reading the value from standard input (end with Ctrl-D)[/]")
    value = read_value(sys.stdin.read())
    with _api(server) as api:
        api.request("PUT", f"/secrets/{name}", {"value": value, "class": secret_class})
    console.print(f"secret [bold]{name}[/] stored (class {secret_class})", highlight=False)


@secret_app.command("ls")
def secret_ls(server: str = _SERVER) -> None:
    """List secrets: name, class, when updated and last used (never values)."""
    with _api(server) as api:
        answer = api.get("/secrets")
    table = Table()
    for column in ("name", "class", "updated", "last used"):
        table.add_column(column)
    for item in answer.get("secrets", []):
        table.add_row(item["name"], item["class"], _when(item.get("updated_at")),
                      _when(item.get("last_used_at")))
    console.print(table)


@secret_app.command("rm")
def secret_rm(name: str = typer.Argument(..., metavar="NAME"), server: str = _SERVER) -> None:
    """Delete a secret."""
    with _api(server) as api:
        api.request("DELETE", f"/secrets/{name}")
    console.print(f"secret [bold]{name}[/] removed", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(secret_app, name="secret")
