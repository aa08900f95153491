"""Pure pieces of the plain-HTTP path: request targets, header filtering, error responses."""

from __future__ import annotations

import http
from dataclasses import dataclass

import h11

from .hosts import HostError
from .interface import Reason

# Hop-by-hop headers (RFC 9110 section 7.6.1) and the proxy's own: never passed on. Framing
# (Content-Length, Transfer-Encoding) is kept for h11, which re-frames each side itself.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization",
    b"proxy-authenticate", b"te", b"trailer", b"upgrade", b"expect",
})


@dataclass(frozen=True)
class Target:
    """An absolute-URI request target split for forwarding."""

    authority: str  # host[:port] as written
    path: str  # origin-form path, "/" when the URI had none
    query: str  # without the "?"; "" when none

    @property
    def origin_form(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


def parse_target(target: str) -> Target:
    """Split ``http://host[:port]/path?query``; raises :class:`HostError` saying what is wrong."""
    scheme, sep, rest = target.partition("://")
    if not sep:
        if target.startswith("/") or target == "*":
            raise HostError(
                f"origin-form request target {target!r}: send requests to the proxy with the "
                "absolute URI (http://host/path), as clients do when HTTP_PROXY is set"
            )
        raise HostError(f"request target {target!r} is not an absolute http:// URI")
    scheme = scheme.lower()
    if scheme == "https":
        raise HostError("https:// URIs go through CONNECT (set HTTPS_PROXY); this proxy never "
                        "terminates TLS")
    if scheme != "http":
        raise HostError(f"scheme {scheme!r} is not proxied; only http:// and CONNECT are")
    if "#" in rest:
        raise HostError("a request target carries no fragment")
    end = len(rest)
    for mark in ("/", "?"):
        found = rest.find(mark)
        if found >= 0:
            end = min(end, found)
    authority, remainder = rest[:end], rest[end:]
    if "@" in authority:
        raise HostError("credentials in the URI authority are refused (user@host)")
    if not authority:
        raise HostError("the URI names no host")
    path, _, query = remainder.partition("?")
    return Target(authority, path or "/", query)


def filter_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers without hop-by-hop ones, nor those the Connection header names (names keep
    their case; they are compared lowercase)."""
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    return [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP and n.lower() not in named]


def head_size(request: h11.Request) -> int:
    """The size of a request head as sent (request line, headers, their line ends)."""
    line = len(request.method) + len(request.target) + len(b"HTTP/1.1") + 4
    return line + sum(len(n) + len(v) + 4 for n, v in request.headers.raw_items()) + 2


def error_response(status: int, text: str, code: str) -> bytes:
    """A complete ``Connection: close`` plain-text response (the proxy closes after it)."""
    body = (text + "\n").encode("utf-8", "replace")
    phrase = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        f"X-Stockade-Egress: {code}\r\n\r\n"
    )
    return head.encode("ascii") + body


class Cut(Exception):
    """Ends the current request: with an error response if none has started, else by closing."""

    def __init__(self, status: int, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
