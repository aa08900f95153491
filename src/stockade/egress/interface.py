"""The egress subsystem's public surface: a job's egress configuration, its events, its errors.

A caller (the agent) builds a :class:`JobEgress` per job, registers it with the job's listening
socket on an :class:`~stockade.egress.proxy.EgressProxy`, receives one :class:`EgressEvent` per
connection or request through its callback, and gets :class:`JobCounters` back at the end.
Nothing here knows about the control plane.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from stockade.errors import StockadeError

if TYPE_CHECKING:  # both import this module's error; dataclass annotations stay strings
    from .addresses import AddressRange
    from .allowlist import Allowlist

KiB = 1024
MiB = 1024**2
GiB = 1024**3

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The reserved name a job reaches the proxy's own endpoint by; never forwarded, never resolved.
INTERNAL_HOST = "stockade.internal"


class EgressError(StockadeError):
    """Base of the egress subsystem's errors (a bad allowlist entry, a bad configuration)."""

    code = "egress_invalid"
    status = 400


class InvalidEntry(EgressError):
    """An allowlist entry that cannot be read or is not allowed."""

    code = "egress_invalid_entry"


class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class EventKind(StrEnum):
    CONNECT = "connect"  # a CONNECT tunnel (TLS passed through, never terminated)
    HTTP = "http"  # one absolute-URI plain HTTP request
    INTERNAL = "internal"  # a request to stockade.internal, or the proxy's own housekeeping


class Reason(StrEnum):
    """Why a connection or request ended as it did; stable codes for logs and tests."""

    ALLOWED = "allowed"  # matched an allowlist entry and every address passed
    INTERNAL = "internal"  # served by the job's stockade.internal handler
    NOT_LISTED = "not_listed"  # no allowlist entry matches host:port
    FORBIDDEN_ADDRESS = "forbidden_address"  # an address in the default deny list (IANA ranges)
    DENIED_ADDRESS = "denied_address"  # an address the caller named (server, control channel)
    BAD_HOST = "bad_host"  # a host that is neither a valid name nor an IP address
    RESERVED_HOST = "reserved_host"  # CONNECT to stockade.internal, or it on another port
    DNS_FAILURE = "dns_failure"
    CONNECT_FAILED = "connect_failed"
    SNI_MISMATCH = "sni_mismatch"  # the TLS server name differs from the CONNECT host
    SNI_MISSING = "sni_missing"  # a TLS hello without a server name to a named host
    BAD_CLIENT_HELLO = "bad_client_hello"  # a first TLS record that does not parse
    HOST_MISMATCH = "host_mismatch"  # the Host header names another host than the URI
    BAD_REQUEST = "bad_request"  # malformed request, origin-form, unsupported scheme
    HEADER_TOO_LARGE = "header_too_large"
    HEADER_TIMEOUT = "header_timeout"  # the request head did not arrive in time (slowloris)
    CONNECTION_LIMIT = "connection_limit"
    BYTE_LIMIT = "byte_limit"
    IDLE_TIMEOUT = "idle_timeout"
    TIME_LIMIT = "time_limit"
    UPSTREAM_ERROR = "upstream_error"  # the upstream broke the HTTP protocol or reset
    JOB_ENDED = "job_ended"  # closed because the job was unregistered


@dataclass(frozen=True)
class Limits:
    """Per-job limits. Connections and bytes are totals over the job; times are per connection."""

    max_connections: int = 2048  # upstream connections opened for the job, in total
    max_open: int = 512  # client connections open at once (bounds descriptors)
    max_bytes: int = 8 * GiB  # bytes up plus down over the job, through every connection
    idle_timeout_s: float = 120.0  # a connection with no byte either way for this long is closed
    max_connection_s: float = 3600.0  # no connection lives longer than this
    header_timeout_s: float = 10.0  # a request head must be complete this long after it starts
    max_header_bytes: int = 16 * KiB  # request line plus headers; beyond it: 431
    connect_timeout_s: float = 10.0  # connecting to one upstream address
    dns_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_open", "max_bytes", "max_header_bytes"):
            if getattr(self, name) < 1:
                raise EgressError(f"egress limit {name} must be at least 1", hint="raise it")
        for name in ("idle_timeout_s", "max_connection_s", "header_timeout_s",
                     "connect_timeout_s", "dns_timeout_s"):
            if getattr(self, name) <= 0:
                raise EgressError(f"egress limit {name} must be positive", hint="raise it")


Headers = tuple[tuple[str, str], ...]
# (status, headers, body) answered by a job's stockade.internal handler.
InternalReply = tuple[int, Sequence[tuple[str, str]], bytes]
# (method, path, query, headers) -> reply, plain or awaitable. It runs on the proxy's loop:
# a slow synchronous handler stalls every job, so make slow work async.
InternalHandler = Callable[[str, str, str, Headers], InternalReply | Awaitable[InternalReply]]
# Resolves (name, port) to addresses on the host side; raises OSError when the name has none.
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]


@dataclass(frozen=True)
class JobEgress:
    """Everything the proxy needs to serve one job, fixed for the job's life."""

    job_id: str
    run_id: str
    allowlist: Allowlist
    tier: str = ""  # named in denial messages ("the allowlist of tier untrusted")
    audit: bool = False  # allowlist misses are allowed and recorded with would_deny=True
    limits: Limits = field(default_factory=Limits)
    # Ranges the operator allows despite the default deny list (never the caller's deny_ranges).
    allow_cidrs: tuple[IPNetwork, ...] = ()
    # Addresses refused before anything else: the server's own, the agent's control channel.
    deny_ranges: tuple[AddressRange, ...] = ()
    internal: InternalHandler | None = None  # None: the default (GET /health only)


@dataclass(frozen=True)
class EgressEvent:
    """One connection or request, delivered once it is over (or refused)."""

    job_id: str
    run_id: str
    kind: EventKind
    host: str  # canonical host (lowercase ASCII name or IP text); "" when the request had none
    port: int  # 0 when the request had none
    ip: str | None  # the address connected to (or refused), None when none was reached
    decision: Decision
    would_deny: bool  # audit mode: allowed only because the job runs in audit mode
    reason: Reason
    detail: str  # one human sentence on why
    rule: str | None  # the allowlist entry that matched, if any
    bytes_up: int
    bytes_down: int
    duration_s: float
    started_at: float  # time.time() when the connection or request began
    method: str = ""  # HTTP and internal requests
    path: str = ""  # without the query string (it may carry secrets)
    status: int | None = None  # the HTTP status the client got, when it got one
    tier: str = ""
    allowed: tuple[str, ...] = ()  # the job's effective allowlist, for the human line


EventCallback = Callable[[EgressEvent], None]


@dataclass(frozen=True)
class JobCounters:
    """A job's totals, returned when it is unregistered."""

    job_id: str
    connections: int  # client connections accepted
    upstream_connections: int  # upstream connections opened
    requests: int  # CONNECTs plus HTTP and internal requests seen
    denied: int
    would_deny: int
    bytes_up: int
    bytes_down: int
    closed_open: int = 0  # connections still open at unregister, closed by it
