"""The CLI's HTTP client for the REST API (docs/rest-api.md): auth, error mapping, SSE.

The token comes from ``STOCKADE_TOKEN`` (settings.api_token) or ``$STOCKADE_HOME/admin.token``;
it is sent as a bearer header and never printed. Every error answer becomes the matching
:class:`StockadeError`, so commands print one clear line and exit with the right code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from stockade.config import Settings
from stockade.errors import (
    Conflict,
    Forbidden,
    InfrastructureError,
    InvalidInput,
    NotFound,
    PolicyDenied,
    StockadeError,
    Unauthorized,
)

_BY_STATUS: dict[int, type[StockadeError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
}


@dataclass(frozen=True)
class SseEvent:
    event: str  # "message" unless the server named it
    data: Any  # the JSON-decoded ``data:`` field


def read_token(settings: Settings) -> str:
    """The API token: ``STOCKADE_TOKEN``, else the admin token the server wrote on first start."""
    if settings.api_token:
        return settings.api_token
    path = settings.home / "admin.token"
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or f"HTTP {response.status_code}")
    hint = str(body.get("hint") or "")
    code = body.get("code")
    if response.status_code == 401 and not hint:
        hint = "set STOCKADE_TOKEN, or STOCKADE_HOME to the server's data directory"
    cls = PolicyDenied if code == "policy_denied" else _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = InfrastructureError if response.status_code >= 500 else StockadeError
    raise cls(message, hint=hint, code=str(code) if code else None)


class ApiClient:
    """A session with the server at ``base_url`` as the holder of ``token``."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token  # for opening another session (another thread); never printed
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )

    @classmethod
    def from_settings(cls, settings: Settings, server: str = "") -> ApiClient:
        return cls(server or settings.server_url, read_token(settings))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call; the decoded JSON answer (None for 204)."""
        try:
            response = self._http.request(method, "/api/v1" + path, json=body)
        except httpx.TransportError as exc:
            raise InfrastructureError(
                f"cannot reach the Stockade server at {self.base_url} ({type(exc).__name__})",
                hint="start it with `stockade up`, or set STOCKADE_SERVER_URL",
            ) from exc
        _raise_for(response)
        return None if response.status_code == 204 or not response.content else response.json()

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body if body is not None else {})

    def healthy(self) -> bool:
        """True when ``/healthz`` answers ok."""
        try:
            return self._http.get("/healthz", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def stream_events(self, path: str) -> Iterator[SseEvent]:
        """Follow an SSE stream (``text/event-stream``) and yield its events as they arrive."""
        try:
            with self._http.stream(
                "GET", "/api/v1" + path, timeout=httpx.Timeout(30.0, read=None)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for(response)
                yield from _parse_sse(response.iter_lines())
        except httpx.TransportError as exc:
            raise InfrastructureError(
                f"lost the log stream from {self.base_url} ({type(exc).__name__})",
                hint="the server stopped; `stockade logs RUN` shows what was stored",
            ) from exc


def _parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """The event-stream format: ``event:``/``data:`` fields, blank line ends an event."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield SseEvent(event, json.loads("\n".join(data)))
            event, data = "message", list[str]()
        elif line.startswith(":"):
            continue  # comment / keep-alive
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield SseEvent(event, json.loads("\n".join(data)))


def admin_token_path(home: Path) -> Path:
    return home / "admin.token"
