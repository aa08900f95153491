"""Every error leaves the server as JSON ``{code, message, status, hint?}`` with a stable code.

Validation errors become 400 ``invalid_input`` with the path of each wrong field; unknown routes
404 ``not_found``; an unexpected exception 500 ``internal_error`` (logged with its traceback, never
shown to the caller).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockade.errors import StockadeError

log = structlog.get_logger("stockade.server")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
}


def error_body(
    code: str, message: str, status: int, hint: str = "", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if hint:
        body["hint"] = hint
    body.update(extra)
    return body


def error_response(
    code: str, message: str, status: int, hint: str = "", **extra: Any
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(code, message, status, hint, **extra), status, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


async def _stockade_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StockadeError)
    body = exc.to_dict()
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(body, exc.status, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(e.get("loc", ())), "message": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return error_response(
        "invalid_input",
        f"invalid request: {summary}",
        400,
        hint="see docs/rest-api.md for the body of this call; unknown fields are refused",
        errors=errors,
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(code, message, exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("internal_error", path=request.url.path, exc_info=exc)
    return error_response("internal_error", "internal server error", 500, hint="see the server log")


def install(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(StockadeError, _stockade_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
