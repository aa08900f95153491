"""A job's identity on the agent: its ID tokens at ``stockade.internal``, its secrets per step.

**Tokens.** A job that declared ``id-token: true`` gets two variables:
``STOCKADE_ID_TOKEN_REQUEST_URL`` (``http://stockade.internal/token``) and
``STOCKADE_ID_TOKEN_REQUEST_TOKEN``, a random bootstrap credential made for this job alone. A
request to that URL reaches the agent only through the job's own proxy listener, inside the
job's network namespace; with the right bearer the agent asks the server for a token of that
audience (``?audience=AUD``) and answers ``{"value": TOKEN, "expires_at": ...}``. The bootstrap
credential is known nowhere else (not the server, not the log) and is forgotten when the job
ends, so it is useless outside the job and after it.

**Secrets.** Just before a step that declares ``secrets:``, the agent gets a token for the
broker's audience (never handed to the job), leases exactly that step's secrets, registers their
values with the job's masker, and hands them to that step's environment only; every other
process of the job is stopped before the step and after it, so no earlier or later step can
read them from ``/proc``. The lease is released when the step ends.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets as random
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from stockade.agent.protocol import AgentProtocol
from stockade.api.agent import SECRETS_AUDIENCE, IdTokenRequest, Lease, SecretsRequest
from stockade.egress.interface import InternalReply
from stockade.errors import StockadeError
from stockade.sandbox.interface import StepSpec

TOKEN_URL = "http://stockade.internal/token"  # noqa: S105 (a URL, not a password)
_JSON = (("Content-Type", "application/json"),)


def _reply(status: int, body: dict[str, Any]) -> InternalReply:
    return status, _JSON, json.dumps(body).encode()


class JobIdentity:
    """One lease's token endpoint and step hooks (``StepHooks`` of the executor)."""

    def __init__(self, lease: Lease, client: AgentProtocol, *,
                 add_secrets: Callable[[list[str]], None], say: Callable[[str], None],
                 log: Any) -> None:
        self._lease = lease
        self._client = client  # used under _lock: the proxy's threads and the job's share it
        self._lock = threading.Lock()
        self._add_secrets = add_secrets
        self._say = say
        self._log = log
        self._bootstrap = random.token_urlsafe(32) if lease.job.id_token else ""
        self._open_leases: dict[int, tuple[str, str]] = {}  # step -> (lease id, broker token)
        self._broker: tuple[str, float] | None = None  # (token, expires_at) for the broker
        self._background: list[threading.Thread] = []
        self.ended = threading.Event()

    # -- the job's environment -------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Variables every step of the job gets (only for jobs that declared id-token)."""
        if not self._bootstrap:
            return {}
        return {"STOCKADE_ID_TOKEN_REQUEST_URL": TOKEN_URL,
                "STOCKADE_ID_TOKEN_REQUEST_TOKEN": self._bootstrap}

    def start(self) -> None:
        """Fetch the broker's token while the sandbox is made, so a step with secrets waits
        only for its secrets (jobs with a secrets step only)."""
        if self.declares_secrets() and self._lease.tier != "untrusted":
            self._spawn(self._broker_token)

    def end(self) -> None:
        """The job is over: the bootstrap credential is dead from now on; leases still being
        released are waited for (briefly: they expire by themselves anyway)."""
        self.ended.set()
        self._bootstrap = ""
        for thread in self._background:
            thread.join(timeout=5.0)
        self._background.clear()

    def _spawn(self, work: Callable[[], object]) -> None:
        def run() -> None:
            try:
                work()
            except StockadeError as exc:  # the step that needs it asks again, and says why
                self._log.warning("identity background call failed", error=exc.message)

        thread = threading.Thread(target=run, name="stockade-identity", daemon=True)
        self._background.append(thread)
        thread.start()

    def _broker_token(self) -> str:
        """The job's token for the broker, minted once and again shortly before it expires."""
        with self._lock:
            if self._broker is None or self._broker[1] - time.time() < 60:
                got = self._client.id_token(self._lease.lease_id,
                                            IdTokenRequest(audience=SECRETS_AUDIENCE))
                self._broker = (got.token, got.expires_at)
            return self._broker[0]

    # -- stockade.internal -------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str,
               headers: tuple[tuple[str, str], ...]) -> InternalReply | Any:
        """The job's requests to ``http://stockade.internal`` (runs on the proxy's loop)."""
        if path == "/health":
            return _reply(200, {"status": "ok"})
        if path != "/token":
            return _reply(404, {"code": "not_found", "message": f"no {path} here"})
        if method != "GET":
            return _reply(405, {"code": "method_not_allowed", "message": "use GET"})
        bearer = next((v for k, v in headers if k.lower() == "authorization"), "")
        expected = self._bootstrap
        given = bearer.removeprefix("Bearer ").removeprefix("bearer ").strip()
        if not expected or self.ended.is_set() or not hmac.compare_digest(given, expected):
            return _reply(401, {"code": "unauthorized", "message":
                                "a token needs this job's STOCKADE_ID_TOKEN_REQUEST_TOKEN as "
                                "the bearer, and `id-token: true` in the job"})
        audience = urllib.parse.parse_qs(query).get("audience", [""])[0]
        if not audience:
            return _reply(400, {"code": "invalid_input", "message": "?audience=AUD is required"})
        if audience == SECRETS_AUDIENCE:
            return _reply(403, {"code": "policy_denied",
                                "message": f"{SECRETS_AUDIENCE} is reserved to the agent"})
        return asyncio.to_thread(self._mint, audience)

    def _mint(self, audience: str) -> InternalReply:
        try:
            with self._lock:
                got = self._client.id_token(self._lease.lease_id,
                                            IdTokenRequest(audience=audience))
        except StockadeError as exc:
            self._say(f"id-token for audience {audience!r} refused: {exc.message}")
            return _reply(exc.status if 400 <= exc.status < 500 else 502,
                          {"code": exc.code, "message": exc.message, "hint": exc.hint})
        self._log.info("id token issued to the job", audience=audience)
        return _reply(200, {"value": got.token, "expires_at": got.expires_at})

    # -- secrets, step by step ---------------------------------------------------------------

    def declares_secrets(self) -> bool:
        return any(step.secrets for step in self._lease.job.steps)

    def before_step(self, index: int, step: StepSpec) -> Mapping[str, str]:
        """The secrets ``step`` declared, for its environment only; refusals are logged."""
        names = list(self._lease.job.steps[index].secrets) if index < len(
            self._lease.job.steps) else []
        if not names:
            return {}
        if self._lease.tier == "untrusted":
            self._say(f"secrets {', '.join(names)} not given to step {step.name!r}: the "
                      "untrusted tier is granted no secrets, whatever its pipeline asks for")
            return {}
        try:
            token = self._broker_token()
            with self._lock:
                lease = self._client.lease_secrets(token, SecretsRequest(step=index, names=names))
        except StockadeError as exc:
            self._say(f"secrets for step {step.name!r} refused: {exc.message}")
            self._log.warning("secrets refused", step=index, error=exc.message)
            return {}
        for name, why in sorted(lease.refused.items()):
            self._say(f"secret {name} not granted to step {step.name!r}: {why}")
        values = dict(lease.values)
        self._add_secrets(list(values.values()))  # masked before the step can print them
        self._open_leases[index] = (lease.lease_id, token)
        if values:
            self._say(f"step {step.name!r} gets secrets {', '.join(sorted(values))} "
                      f"(lease {lease.lease_id})")
        return values

    def after_step(self, index: int, step: StepSpec) -> None:
        """End the step's secrets lease, off the job's path (it expires by itself anyway)."""
        opened = self._open_leases.pop(index, None)
        if opened is None:
            return

        def release() -> None:
            with self._lock:
                self._client.release_secrets(opened[1], opened[0])

        self._spawn(release)
