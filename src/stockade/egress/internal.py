"""The default handler of ``http://stockade.internal/``: a health check, and 404 otherwise.

Later this endpoint serves the job's OIDC token and secrets, so nothing on this path logs a
request body, a query string or an Authorization header.
"""

from __future__ import annotations

import json

from .interface import Headers, InternalReply

_JSON = [("content-type", "application/json")]


def default_internal(method: str, path: str, query: str, headers: Headers) -> InternalReply:
    """``GET /health`` answers 200 ``{"status":"ok"}``; anything else 404 JSON."""
    if method in ("GET", "HEAD") and path == "/health":
        return 200, _JSON, json.dumps({"status": "ok"}).encode()
    body = {"code": "not_found", "message": "no such endpoint on stockade.internal"}
    return 404, _JSON, json.dumps(body).encode()
