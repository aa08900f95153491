"""The FastAPI application: routes, JSON errors, size limit, and the start-up sequence.

Start-up: migrate the database, create the first admin token on an empty database (written to
``$STOCKADE_HOME/admin.token``, mode 0600, never logged), load the operator's policy once, load
(or create) the master key and make sure a signing key is due for nothing, give live leases a
fresh TTL (agents could not heartbeat while the server was down), start the reaper and the key
rotation task.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from fastapi import Depends, FastAPI, Response

from stockade.config import Settings
from stockade.errors import InvalidInput
from stockade.identity.keys import check_algorithm
from stockade.policy import Policy, default_policy_path, load_policy_file
from stockade.secrets.crypto import MasterKey
from stockade.secrets.masterkey import load_master_key
from stockade.server import errors
from stockade.server.limits import BodyLimitMiddleware
from stockade.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from stockade.server.models import Health
from stockade.server.notify import Notifier
from stockade.server.reaper import reap_forever
from stockade.server.routes import agents, egress, logs, oidc, runs, tokens, webhooks
from stockade.server.routes import secrets as secrets_routes
from stockade.server.state import ServerState, get_state
from stockade.store.credentials import bootstrap_admin
from stockade.store.database import Database, open_database
from stockade.store.dispatch import grace_active_leases
from stockade.store.keys import rotate_keys, signing_key

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


def rotate(settings: Settings, db: Database, master: MasterKey) -> None:
    """One rotation check of the issuer's signing keys (logs key ids, never key material)."""
    done = rotate_keys(
        db, master, alg=settings.id_token_alg, rotation_s=settings.signing_key_rotation_s,
        max_lifetime_s=settings.effective_id_token_lifetime_s,
    )
    if done.created or done.retired or done.dropped:
        log.info("signing_keys_rotated", created=done.created, retired=list(done.retired),
                 dropped=list(done.dropped))


def rotation_interval_s(settings: Settings) -> float:
    """How often the rotation is checked: often enough for short test periods, else a minute."""
    return max(0.2, min(60.0, settings.signing_key_rotation_s / 4,
                        settings.effective_id_token_lifetime_s / 4))


async def rotate_forever(state: ServerState) -> None:
    """Check the signing keys until cancelled; a failing pass is logged and retried."""
    while True:
        await asyncio.sleep(rotation_interval_s(state.settings))
        try:
            await state.call(rotate, state.settings, state.db, state.master)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("signing_key_rotation_failed")


def prepare(settings: Settings) -> tuple[Database, Policy, MasterKey]:
    """Blocking start-up work: database, first admin token, policy, master and signing keys."""
    check_algorithm(settings.id_token_alg)
    policy = load_policy_file(policy_path(settings))
    master = load_master_key(settings.master_key, settings.effective_master_key_file)
    db = open_database(settings.effective_database_url)
    token = bootstrap_admin(db)
    if token is not None:
        path = write_admin_token(settings.home, token)
        log.info("admin_token_created", path=str(path))
    rotate(settings, db, master)
    signing_key(db, master)  # a wrong master key stops the start here, not the first token
    extended = grace_active_leases(db, settings.lease_ttl_s)
    log.info("server_ready", policy_hash=policy.hash, live_leases=extended,
             issuer=settings.effective_issuer_url)
    return db, policy, master


def create_app(settings: Settings) -> FastAPI:
    """The server's ASGI app for ``settings``."""
    notifier = Notifier()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db, policy, master = await asyncio.to_thread(prepare, settings)
        state = ServerState(settings=settings, db=db, policy=policy, notifier=notifier,
                            master_key=master)
        app.state.stockade = state
        notifier.bind(asyncio.get_running_loop())
        tasks = [
            asyncio.create_task(reap_forever(state), name="stockade-reaper"),
            asyncio.create_task(rotate_forever(state), name="stockade-key-rotation"),
        ]
        try:
            yield
        finally:
            for task in reversed(tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            db.dispose()

    app = FastAPI(
        title="Stockade",
        version=API_VERSION,
        description="Self-hosted CI: runs, jobs, logs, agents. See docs/rest-api.md.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    for module in (runs, logs, egress, agents, tokens, webhooks, oidc, secrets_routes):
        app.include_router(module.router)

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def metrics(state: ServerState = Depends(get_state)) -> Response:
        """Prometheus metrics: job outcomes and egress decisions per pool (no ids, no hosts)."""
        return Response(state.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """Liveness: the server answers."""
        return Health(status="ok")

    return app
