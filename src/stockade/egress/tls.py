"""Reading the server name (SNI) from a TLS ClientHello, with every length checked.

The proxy never terminates TLS: it reads the client's first bytes after ``200 Connection
established`` and, when they are a TLS handshake, the server_name extension of the ClientHello
(RFC 8446 section 4.1.2, RFC 6066 section 3), so that a CONNECT to an allowed host cannot carry a
TLS session to another one. The hello may span several TCP reads and several TLS records; the
parser is called again with more bytes until it answers something other than ``NEED_MORE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

HANDSHAKE = 0x16
CLIENT_HELLO = 0x01
SERVER_NAME = 0x0000
HOST_NAME = 0x00
MAX_RECORD = 2**14  # RFC 8446 section 5.1: a plaintext record fragment is at most 2^14 bytes
MAX_HELLO_BYTES = 16 * 1024  # what the proxy buffers before deciding; real hellos are < 4 KiB


class HelloStatus(StrEnum):
    NEED_MORE = "need_more"  # a prefix of a plausible hello: read more and call again
    NOT_TLS = "not_tls"  # the first byte is no TLS handshake record: plain tunnel data
    HELLO = "hello"  # a complete ClientHello (server_name may be None)
    MALFORMED = "malformed"  # a TLS handshake that does not parse, or is too large


@dataclass(frozen=True)
class HelloResult:
    status: HelloStatus
    server_name: str | None = None  # as sent (ASCII), not yet normalised
    error: str = ""


class _Malformed(Exception):
    pass


class _Reader:
    """A cursor over bytes that refuses to read past the end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise _Malformed(f"truncated at byte {self.pos} (wanted {count} more)")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> _Reader:
        return _Reader(self.take(self.uint(length_size)))

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def parse_client_hello(data: bytes, max_bytes: int = MAX_HELLO_BYTES) -> HelloResult:
    """What the client's first bytes ``data`` are (see :class:`HelloStatus`)."""
    if not data:
        return HelloResult(HelloStatus.NEED_MORE)
    if data[0] != HANDSHAKE:
        return HelloResult(HelloStatus.NOT_TLS)
    try:
        message = _handshake_message(data, max_bytes)
        if message is None:
            return HelloResult(HelloStatus.NEED_MORE)
        return HelloResult(HelloStatus.HELLO, _server_name(message))
    except _Malformed as exc:
        return HelloResult(HelloStatus.MALFORMED, error=str(exc))


def _handshake_message(data: bytes, max_bytes: int) -> bytes | None:
    """The first handshake message's body, joined from its records; None if more is needed."""
    handshake = bytearray()
    pos = 0
    while True:
        if len(data) - pos < 5:
            if len(data) >= max_bytes:
                raise _Malformed(f"ClientHello larger than {max_bytes} bytes")
            return None
        content_type, major, minor = data[pos], data[pos + 1], data[pos + 2]
        length = int.from_bytes(data[pos + 3 : pos + 5], "big")
        if content_type != HANDSHAKE:
            raise _Malformed(f"record of type {content_type} inside the ClientHello")
        if major != 3 or minor > 4:
            raise _Malformed(f"record version {major}.{minor} is not TLS")
        if length == 0 or length > MAX_RECORD:
            raise _Malformed(f"record length {length} out of range")
        if pos + 5 + length > max_bytes:
            raise _Malformed(f"ClientHello larger than {max_bytes} bytes")
        if pos + 5 + length > len(data):
            return None
        handshake += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if len(handshake) >= 4:
            if handshake[0] != CLIENT_HELLO:
                raise _Malformed(f"first handshake message is type {handshake[0]}, not hello")
            body_length = int.from_bytes(handshake[1:4], "big")
            if body_length > max_bytes:
                raise _Malformed(f"ClientHello of {body_length} bytes exceeds {max_bytes}")
            if len(handshake) >= 4 + body_length:
                return bytes(handshake[4 : 4 + body_length])


def _server_name(body: bytes) -> str | None:
    hello = _Reader(body)
    if hello.uint(1) != 3:
        raise _Malformed("legacy_version is not TLS")
    hello.take(1 + 32)  # minor version, random
    session_id = hello.vector(1)
    if session_id.left > 32:
        raise _Malformed("session id longer than 32 bytes")
    suites = hello.vector(2)
    if suites.left < 2 or suites.left % 2:
        raise _Malformed("cipher suite list of odd or zero length")
    if hello.vector(1).left < 1:
        raise _Malformed("empty compression method list")
    if hello.left == 0:
        return None  # no extensions at all (old clients): no server name
    extensions = hello.vector(2)
    if hello.left:
        raise _Malformed("bytes after the extensions")
    seen: set[int] = set()
    name: str | None = None
    while extensions.left:
        kind = extensions.uint(2)
        content = extensions.vector(2)
        if kind in seen:
            raise _Malformed(f"extension {kind} appears twice")
        seen.add(kind)
        if kind == SERVER_NAME:
            name = _host_name(content)
    return name


def _host_name(content: _Reader) -> str:
    names = content.vector(2)
    if content.left or not names.left:
        raise _Malformed("server_name extension length mismatch or empty list")
    found: str | None = None
    while names.left:
        name_type = names.uint(1)
        value = names.vector(2).data
        if name_type != HOST_NAME:
            continue  # no other type is defined; skip it rather than guess its meaning
        if found is not None:
            raise _Malformed("more than one host_name in server_name")
        if not value:
            raise _Malformed("empty host_name")
        try:
            found = value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise _Malformed("host_name is not ASCII") from exc
        if any(ord(char) < 0x21 or ord(char) == 0x7F for char in found):
            raise _Malformed("host_name contains control characters or spaces")
    if found is None:
        raise _Malformed("server_name carries no host_name")
    return found
