"""The FastAPI application: routes, JSON errors, size limit, and the start-up sequence.

Start-up: migrate the database, create the first admin token on an empty database (written to
``$STOCKADE_HOME/admin.token``, mode 0600, never logged), load the operator's policy once, give
live leases a fresh TTL (agents could not heartbeat while the server was down), start the reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from fastapi import FastAPI

from stockade.config import Settings
from stockade.errors import InvalidInput
from stockade.policy import Policy, default_policy_path, load_policy_file
from stockade.server import errors
from stockade.server.limits import BodyLimitMiddleware
from stockade.server.models import Health
from stockade.server.notify import Notifier
from stockade.server.reaper import reap_forever
from stockade.server.routes import agents, egress, logs, runs, tokens, webhooks
from stockade.server.state import ServerState
from stockade.store.credentials import bootstrap_admin
from stockade.store.database import Database, open_database
from stockade.store.dispatch import grace_active_leases

log = structlog.get_logger("stockade.server")
API_VERSION = "v1"


def policy_path(settings: Settings) -> Path:
    """The operator's policy: the setting, else ``$STOCKADE_HOME/policy.yml``, else the default."""
    if settings.policy_file:
        path = Path(settings.policy_file)
        if not path.is_file():
            raise InvalidInput(
                f"policy file {path} does not exist",
                hint="fix STOCKADE_POLICY_FILE, or unset it to use the default policy",
            )
        return path
    home_policy = settings.home / "policy.yml"
    return home_policy if home_policy.is_file() else default_policy_path()


def write_admin_token(home: Path, token: str) -> Path:
    """Write the first admin token where only this user can read it."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "admin.token"
    tmp = home / f".admin.token.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.replace(tmp, path)
    return path


def prepare(settings: Settings) -> tuple[Database, Policy]:
    """Blocking start-up work: database, first admin token, policy."""
    policy = load_policy_file(policy_path(settings))
    db = open_database(settings.effective_database_url)
    token = bootstrap_admin(db)
    if token is not None:
        path = write_admin_token(settings.home, token)
        log.info("admin_token_created", path=str(path))
    extended = grace_active_leases(db, settings.lease_ttl_s)
    log.info("server_ready", policy_hash=policy.hash, live_leases=extended)
    return db, policy


def create_app(settings: Settings) -> FastAPI:
    """The server's ASGI app for ``settings``."""
    notifier = Notifier()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db, policy = await asyncio.to_thread(prepare, settings)
        state = ServerState(settings=settings, db=db, policy=policy, notifier=notifier)
        app.state.stockade = state
        notifier.bind(asyncio.get_running_loop())
        reaper = asyncio.create_task(reap_forever(state), name="stockade-reaper")
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            db.dispose()

    app = FastAPI(
        title="Stockade",
        version=API_VERSION,
        description="Self-hosted CI: runs, jobs, logs, agents. See docs/rest-api.md.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    for module in (runs, logs, egress, agents, tokens, webhooks):
        app.include_router(module.router)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """Liveness: the server answers."""
        return Health(status="ok")

    return app
