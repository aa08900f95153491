"""``stockade server``: run the control-plane API."""

from __future__ import annotations

import typer

from stockade.config import load_settings


def server(
    host: str = typer.Option("", "--host", help="Address to listen on [default: listen_host]."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port [default: listen_port]."),
) -> None:
    """Run the server: API under /api/v1, agents long-poll it for work."""
    from stockade.server.serve import serve  # import the web stack only for this command

    settings = load_settings()
    serve(settings, host or None, port or None)


def register(app: typer.Typer) -> None:
    """Add ``stockade server`` to the CLI."""
    app.command("server")(server)
