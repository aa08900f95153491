"""Host spellings: one canonical form to compare, resolve and log.

Every host the proxy sees (a CONNECT authority, a URI, a Host header, a TLS server name, an
allowlist entry) goes through :func:`normalize_host`, so that two spellings of one host compare
equal and an address written as a name is recognised as the address. IPv4 follows
``inet_aton`` (``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376`` and ``127.1`` are all
addresses); a name whose last label is numeric but is no address is refused, as browsers do.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_LEGACY_IPV4_CHARS = re.compile(r"[0-9a-fx.]+")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_PORT = re.compile(r"[0-9]{1,5}")


class HostError(ValueError):
    """A host or authority that cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True)
class Host:
    """A canonical host: a lowercase ASCII name without trailing dot, or an IP address."""

    name: str  # the name, or the address's canonical text (IPv6 without brackets)
    ip: IPAddress | None = None

    def __str__(self) -> str:
        return f"[{self.name}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.name

    def authority(self, port: int) -> str:
        """``host:port`` as written in a request (IPv6 bracketed)."""
        return f"{self}:{port}"


def parse_ip(text: str) -> IPAddress | None:
    """The address ``text`` spells (any inet_aton IPv4 form, or IPv6), else None."""
    bracketed = text.startswith("[") and text.endswith("]")
    if bracketed:
        text = text[1:-1]
    if bracketed or ":" in text:
        if "%" in text:
            return None  # zone ids name an interface; never meaningful for egress
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        return address.ipv4_mapped or address
    lowered = text.lower().removesuffix(".")
    # glibc's inet_aton ignores anything after a space, so only ever hand it address characters.
    if not lowered or not _LEGACY_IPV4_CHARS.fullmatch(lowered):
        return None
    try:
        packed = socket.inet_aton(lowered)
    except OSError:
        return None
    return ipaddress.IPv4Address(packed)


def normalize_host(text: str) -> Host:
    """The canonical :class:`Host` for ``text`` (no port); raises :class:`HostError`."""
    if not text:
        raise HostError("empty host")
    if text.startswith("["):
        if not text.endswith("]"):
            raise HostError(f"unterminated IPv6 literal {text!r}")
        address = parse_ip(text)
        if address is None:
            raise HostError(f"{text!r} is not an IPv6 address")
        return Host(str(address), address)
    if ":" in text:
        raise HostError(f"{text!r}: an IPv6 address must be written in brackets")
    address = parse_ip(text)
    if address is not None:
        return Host(str(address), address)
    name = text[:-1] if text.endswith(".") else text
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise HostError(f"{text!r} is not a valid internationalised name ({exc})") from exc
    name = name.lower()
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise HostError(f"{text!r} is not a valid host name")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise HostError(f"{text!r} ends in a number but is not a valid IPv4 address")
    return Host(name)


def split_authority(text: str, default_port: int | None) -> tuple[str, int]:
    """``host[:port]`` split into the host text and the port; raises :class:`HostError`."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise HostError(f"unterminated IPv6 literal in {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise HostError(f"unexpected {rest!r} after the address in {text!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise HostError(f"{text!r}: an IPv6 address must be written in brackets")
    else:
        host, port_text = text, None
    if port_text is None:
        if default_port is None:
            raise HostError(f"{text!r} has no port")
        return host, default_port
    if not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
        raise HostError(f"{text!r} has an invalid port")
    return host, int(port_text)
