"""Running the server under uvicorn."""

from __future__ import annotations

import uvicorn

from stockade.config import Settings
from stockade.jsonlog import configure
from stockade.server.app import create_app


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the API until SIGINT/SIGTERM (graceful: open long-polls get a few seconds)."""
    configure()
    uvicorn.run(
        create_app(settings),
        host=host or settings.listen_host,
        port=port if port is not None else settings.listen_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
