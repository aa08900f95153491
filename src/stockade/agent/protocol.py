"""The agent's side of the wire protocol (``stockade.api.agent``): one method per endpoint.

Every body is a pydantic model from :mod:`stockade.api.agent`, so a field the server does not know
never leaves the agent. HTTP and transport failures become :class:`StockadeError` subclasses the
loop can act on: :class:`LeaseLost` (stop the job), :class:`LogsIncomplete` (resend, then retry),
:class:`RegistrationRefused` (permanent) and :class:`ServerUnavailable` (retry later).
"""

from __future__ import annotations

from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from stockade.api.agent import (
    CompleteRequest,
    HeartbeatResponse,
    IdTokenRequest,
    IdTokenResponse,
    Lease,
    LeaseRequest,
    LogAck,
    LogBatch,
    RegisterRequest,
    RegisterResponse,
    ReleaseRequest,
    SecretsLease,
    SecretsRequest,
    StepReport,
)
from stockade.errors import InfrastructureError, InvalidInput, PolicyDenied, StockadeError

_M = TypeVar("_M", bound=BaseModel)

USER_AGENT = "stockade-agent/0.1"


class ServerUnavailable(InfrastructureError):
    """The server could not be reached or answered 5xx; the caller retries with a delay."""

    code = "server_unavailable"


class RegistrationRefused(InvalidInput):
    """The registration token was refused (unknown, expired, already used, or another pool)."""

    code = "registration_refused"


class CredentialRefused(StockadeError):
    """The server no longer accepts this agent's credential; a new registration is needed."""

    code = "credential_refused"
    status = 401


class LeaseLost(StockadeError):
    """The lease expired or was taken away: the job must stop and must not be completed."""

    code = "lease_lost"
    status = 409


class LogsIncomplete(StockadeError):
    """``complete`` was refused because the server misses log chunks up to ``last_seq``."""

    code = "logs_incomplete"
    status = 409


class ProtocolError(StockadeError):
    """The server answered something the protocol does not allow (a bug on one side)."""

    code = "protocol_error"
    status = 502


def _error_code(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if isinstance(body, dict):
        return str(body.get("code", "")), str(body.get("message", ""))
    return "", ""


class AgentProtocol:
    """A connection to one server for one agent. Not shared between threads: make one each."""

    def __init__(
        self, server_url: str, *, credential: str = "", transport: httpx.BaseTransport | None = None
    ) -> None:
        self._server_url = server_url
        self._credential = credential
        self._http = httpx.Client(
            base_url=server_url.rstrip("/") + "/api/v1/agents",
            timeout=httpx.Timeout(15.0),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AgentProtocol:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def with_credential(self, credential: str) -> AgentProtocol:
        """A fresh connection carrying ``credential`` (for another thread)."""
        return AgentProtocol(self._server_url, credential=credential)

    # -- endpoints ---------------------------------------------------------------------------

    def register(self, request: RegisterRequest) -> RegisterResponse:
        """Exchange a registration token for this agent's credential (kept in memory only)."""
        response = self._post("/register", request, authenticated=False)
        if response.status_code in (400, 401, 403, 404, 409, 410):
            code, message = _error_code(response)
            raise RegistrationRefused(
                f"registration refused by the server ({code or response.status_code}): {message}",
                hint="ask an admin for a fresh registration token for this pool "
                "(stockade token registration --pool POOL); each token works once",
            )
        reply = self._parse(response, RegisterResponse, ok=(200, 201))
        self._credential = reply.credential
        return reply

    def lease(self, wait_s: float) -> Lease | None:
        """Long-poll for a job of this agent's pool; ``None`` when none came within ``wait_s``."""
        timeout = httpx.Timeout(15.0, read=wait_s + 15.0)
        response = self._post("/lease", LeaseRequest(wait_s=wait_s), timeout=timeout)
        if response.status_code == 204:
            return None
        return self._parse(response, Lease, ok=(200,))

    def heartbeat(self, lease_id: str) -> HeartbeatResponse:
        response = self._post(f"/leases/{lease_id}/heartbeat", None)
        return self._parse(response, HeartbeatResponse, ok=(200,))

    def send_logs(self, lease_id: str, batch: LogBatch) -> LogAck:
        response = self._post(f"/leases/{lease_id}/logs", batch)
        return self._parse(response, LogAck, ok=(200,))

    def report_step(self, lease_id: str, report: StepReport) -> None:
        self._expect_empty(self._post(f"/leases/{lease_id}/steps", report))

    def complete(self, lease_id: str, request: CompleteRequest) -> None:
        self._expect_empty(self._post(f"/leases/{lease_id}/complete", request))

    def release(self, lease_id: str, reason: str) -> None:
        self._expect_empty(self._post(f"/leases/{lease_id}/release", ReleaseRequest(reason=reason)))

    def id_token(self, lease_id: str, request: IdTokenRequest) -> IdTokenResponse:
        """A job ID token for the lease's job (PolicyDenied when its tier does not allow it)."""
        response = self._post(f"/leases/{lease_id}/id-token", request)
        self._raise_denied(response)
        return self._parse(response, IdTokenResponse, ok=(200, 201))

    def lease_secrets(self, job_token: str, request: SecretsRequest) -> SecretsLease:
        """The secrets of one step from the broker, authorized by the job's own token."""
        response = self._post(self._broker("/lease"), request, bearer=job_token)
        self._raise_denied(response)
        return self._parse(response, SecretsLease, ok=(200, 201))

    def release_secrets(self, job_token: str, lease_id: str) -> None:
        """End a secrets lease early (the step is over)."""
        self._expect_empty(self._post(self._broker(f"/leases/{lease_id}/release"), None,
                                      bearer=job_token))

    def _broker(self, path: str) -> str:
        # An absolute URL: the broker lives beside the agents' API, not under it.
        return self._server_url.rstrip("/") + "/api/v1/secrets" + path

    @staticmethod
    def _raise_denied(response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            code, message = _error_code(response)
            raise PolicyDenied(message or f"refused ({response.status_code})",
                               code=code or "policy_denied")

    # -- plumbing ----------------------------------------------------------------------------

    def _post(
        self,
        path: str,
        body: BaseModel | None,
        *,
        authenticated: bool = True,
        timeout: httpx.Timeout | None = None,
        bearer: str | None = None,
    ) -> httpx.Response:
        token = bearer if bearer is not None else self._credential
        headers = {"Authorization": f"Bearer {token}"} if authenticated else {}
        content = body.model_dump_json().encode() if body is not None else b""
        headers["Content-Type"] = "application/json"
        try:
            response = self._http.post(
                path,
                content=content,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise ServerUnavailable(
                f"cannot reach the server: {type(exc).__name__}",
                hint="is `stockade server` running and --server right?",
            ) from exc
        if response.status_code >= 500:
            code, message = _error_code(response)
            raise ServerUnavailable(f"server error {response.status_code} {code}: {message}")
        if response.status_code == 401 and authenticated and bearer is None:
            raise CredentialRefused("the server refused this agent's credential")
        if response.status_code == 409:
            code, message = _error_code(response)
            if code == "logs_incomplete":
                raise LogsIncomplete(message or "the server misses log chunks")
            if code == "lease_lost":
                raise LeaseLost(message or "the lease expired or was taken away")
        return response

    @staticmethod
    def _parse(response: httpx.Response, model: type[_M], *, ok: tuple[int, ...]) -> _M:
        if response.status_code not in ok:
            code, message = _error_code(response)
            raise ProtocolError(f"unexpected answer {response.status_code} {code}: {message}")
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ProtocolError(f"malformed {model.__name__} from the server: {exc}") from exc

    @staticmethod
    def _expect_empty(response: httpx.Response) -> None:
        if response.status_code not in (200, 204):
            code, message = _error_code(response)
            raise ProtocolError(f"unexpected answer {response.status_code} {code}: {message}")
