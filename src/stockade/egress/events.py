"""What an event means to a person: the job-log line for a denial, and audit suggestions."""

from __future__ import annotations

from collections.abc import Iterable

from .allowlist import DEFAULT_PORTS
from .interface import Decision, EgressEvent, Reason

_HINTS: dict[Reason, str] = {
    Reason.NOT_LISTED: "add it to the tier's egress list in the policy, or run in audit mode to "
    "see what the build needs",
    Reason.FORBIDDEN_ADDRESS: "jobs never reach such addresses; an operator can allow a range "
    "explicitly (allow_cidrs) if this host is really meant to be reached",
    Reason.DENIED_ADDRESS: "this address belongs to Stockade itself and is never reachable",
    Reason.BAD_HOST: "use a valid host name or IP address",
    Reason.RESERVED_HOST: "reach stockade.internal with plain http://stockade.internal/ only",
    Reason.DNS_FAILURE: "check the host name; DNS is resolved by the proxy on the host",
    Reason.CONNECT_FAILED: "the host did not accept the connection; check the host and port",
    Reason.SNI_MISMATCH: "the TLS server name must equal the CONNECT host; connect to the host "
    "the client really talks to",
    Reason.SNI_MISSING: "send a TLS server name (SNI), or CONNECT to an IP address",
    Reason.BAD_CLIENT_HELLO: "the client's TLS hello could not be read",
    Reason.HOST_MISMATCH: "the Host header must name the host of the request's URI",
    Reason.BAD_REQUEST: "send requests through HTTP_PROXY/HTTPS_PROXY as the job's environment "
    "sets them (absolute http:// URIs, or CONNECT for https)",
    Reason.HEADER_TOO_LARGE: "send a smaller request head",
    Reason.HEADER_TIMEOUT: "the request head was not sent in time",
    Reason.CONNECTION_LIMIT: "the job opened too many connections; raise the tier's egress "
    "connection limit",
    Reason.BYTE_LIMIT: "the job moved too many bytes; raise the tier's egress byte limit",
    Reason.IDLE_TIMEOUT: "the connection was idle too long",
    Reason.TIME_LIMIT: "the connection lived longer than the per-connection time limit",
    Reason.UPSTREAM_ERROR: "the upstream server broke the protocol or reset the connection",
    Reason.JOB_ENDED: "the job ended while the connection was open",
}


def log_line(event: EgressEvent) -> str | None:
    """One human line for the job's log for a denial or an audit would-be denial, else None."""
    target = f"{event.host or '?'}:{event.port}" if event.port else (event.host or "request")
    if event.decision is Decision.DENY:
        verb = "closed" if event.bytes_up or event.bytes_down else "denied"
    elif event.would_deny:
        verb = "audit, would deny"
    else:
        return None
    detail = event.detail
    if event.reason is Reason.NOT_LISTED:
        tier = f"tier {event.tier}" if event.tier else "this job"
        allowed = ", ".join(event.allowed) or "nothing"
        detail = f"is not in the allowlist of {tier} (allowed: {allowed})"
    hint = _HINTS.get(event.reason, "")
    return f"egress {verb}: {target} {detail}" + (f"; {hint}" if hint else "")


def suggest(events: Iterable[EgressEvent]) -> list[str]:
    """The allowlist entries (sorted) that would have let the allowlist misses in ``events`` pass.

    A host is suggested bare when it was reached on 80 or 443, and as ``host:port`` for any
    other port. Address-range refusals are not suggested: no entry would allow them.
    """
    wanted: set[str] = set()
    for event in events:
        if event.reason is not Reason.NOT_LISTED or not event.host:
            continue
        host = f"[{event.host}]" if ":" in event.host else event.host
        wanted.add(host if event.port in DEFAULT_PORTS else f"{host}:{event.port}")
    return sorted(wanted)
