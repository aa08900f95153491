"""Running the server under uvicorn."""

from __future__ import annotations

from dataclasses import replace

import uvicorn

from stockade.config import Settings
from stockade.jsonlog import configure
from stockade.server.app import create_app


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the API until SIGINT/SIGTERM (graceful: open long-polls get a few seconds)."""
    configure()
    # The app must know where it listens: the OIDC issuer URL defaults to this address.
    settings = replace(settings, listen_host=host or settings.listen_host,
                       listen_port=port if port is not None else settings.listen_port)
    uvicorn.run(
        create_app(settings),
        host=settings.listen_host,
        port=settings.listen_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
