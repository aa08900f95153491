"""A job's network as the agent serves it: the lease's egress config on the agent's proxy.

One :class:`~stockade.egress.runner.EgressThread` (one event loop thread) serves every job of the
agent; each job registers its listener when its sandbox's network namespace exists and
unregisters it when the sandbox is gone. Denials reach the job's log at once, as one clear line
each; the events themselves travel to the server with the job's completion.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.parse
from collections.abc import Callable, Mapping

from stockade.api.agent import EgressEvent as EventPayload
from stockade.api.agent import EgressPayload, Lease
from stockade.egress.addresses import AddressRange, deny_range
from stockade.egress.allowlist import Allowlist
from stockade.egress.env import proxy_env
from stockade.egress.events import log_line
from stockade.egress.interface import Decision, EgressEvent, InternalHandler, JobEgress, Limits
from stockade.egress.runner import EgressThread

MAX_EVENTS = 5000  # per job; the server keeps no more (api.agent.CompleteRequest)


def control_plane_ranges(server_url: str) -> tuple[AddressRange, ...]:
    """The server's addresses as hard refusals: no job may reach the control plane, whatever
    its tier's ``egress_allow_cidrs`` say."""
    host = urllib.parse.urlsplit(server_url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        infos = []
    found = {str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos}
    return tuple(deny_range(f"{ip}/{32 if ':' not in ip else 128}",
                            "the Stockade server (the agent's control channel)")
                 for ip in sorted(found))


def job_egress(lease: Lease, egress: EgressPayload, deny_ranges: tuple[AddressRange, ...],
               internal: InternalHandler | None = None) -> JobEgress:
    """The proxy's configuration for one job, from what the server planned for it."""
    return JobEgress(
        job_id=lease.job_id,
        run_id=lease.run_id,
        allowlist=Allowlist.parse(egress.allow),
        tier=lease.tier,
        audit=egress.mode == "audit",
        limits=Limits(max_connections=egress.max_connections, max_bytes=max(1, egress.max_bytes),
                      idle_timeout_s=egress.idle_timeout_s,
                      max_connection_s=egress.connection_time_s),
        allow_cidrs=tuple(ipaddress.ip_network(c) for c in egress.allow_cidrs),
        deny_ranges=deny_ranges,
        internal=internal,
    )


def event_payload(event: EgressEvent, scrub: Callable[[str], str] = str) -> EventPayload:
    """The wire form of an event; ``scrub`` masks its texts (a host name can carry a secret)."""
    return EventPayload(
        ts=event.started_at, kind=event.kind.value, host=scrub(event.host)[:512],
        port=event.port, ip=event.ip, decision=event.decision.value,
        would_deny=event.would_deny, reason=event.reason.value,
        detail=scrub(event.detail)[:1024], rule=event.rule,
        bytes_up=event.bytes_up, bytes_down=event.bytes_down,
        duration_s=max(0.0, event.duration_s),
    )


class JobNetwork:
    """The sandbox's :class:`~stockade.sandbox.interface.NetworkAttachment` for one lease."""

    def __init__(self, proxy: EgressThread, config: JobEgress,
                 on_line: Callable[[str], None], scrub: Callable[[str], str] = str) -> None:
        self._proxy = proxy
        self._config = config
        self._on_line = on_line
        self._scrub = scrub
        self._lock = threading.Lock()
        self._events: list[EgressEvent] = []
        self.dropped = 0
        self._attached = False

    def attach(self, listener: socket.socket, port: int) -> Mapping[str, str]:
        self._proxy.register(listener, self._config, self._on_event)
        self._attached = True
        return proxy_env(port)

    def detach(self) -> None:
        if self._attached:
            self._attached = False
            self._proxy.unregister(self._config.job_id)

    def _on_event(self, event: EgressEvent) -> None:
        # Called on the proxy's loop: keep it short, never block on the network.
        with self._lock:
            if len(self._events) < MAX_EVENTS:
                self._events.append(event)
            else:
                self.dropped += 1
        if event.decision is Decision.DENY or event.would_deny:
            line = log_line(event)
            if line:
                self._on_line(line)

    @property
    def recorded(self) -> int:
        """How many events are kept for the completion."""
        with self._lock:
            return len(self._events)

    def events(self) -> list[EventPayload]:
        """The job's events so far, as the completion carries them."""
        with self._lock:
            return [event_payload(e, self._scrub) for e in self._events]
