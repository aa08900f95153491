"""What every session shares: the request in flight, its event, refusals, reads, upstreams."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass

import h11

from .decide import Verdict, decide
from .events import log_line
from .forward import Upstream
from .hosts import Host
from .http import Cut, error_response
from .interface import Decision, EventKind, Reason, Resolver
from .state import JobState
from .tunnel import SPLICE, Tunnel

RECV = 64 * 1024


@dataclass(frozen=True)
class ProxyContext:
    """What every session of a proxy shares."""

    resolver: Resolver
    splice: bool = SPLICE


@dataclass
class _Flight:
    """The request in progress, so that whatever ends it can report it."""

    kind: EventKind
    started: float
    mono: float
    method: str = ""
    host: str = ""
    port: int = 0
    ip: str | None = None
    rule: str | None = None
    would_deny: bool = False
    path: str = ""
    status: int | None = None
    tunnel: Tunnel | None = None
    upstream: Upstream | None = None
    sent0: int = 0
    received0: int = 0
    responded: bool = False  # a response (or 200 established) went to the client


class SessionBase:
    """One accepted client connection's state, and the steps every kind of request uses."""

    def __init__(self, ctx: ProxyContext, job: JobState, client: socket.socket) -> None:
        self.loop = asyncio.get_running_loop()
        self.ctx = ctx
        self.job = job
        self.client = client
        self.limits = job.config.limits
        self.accepted = self.loop.time()
        self.deadline = self.accepted + self.limits.max_connection_s
        self.flight: _Flight | None = None
        self.upstream: Upstream | None = None
        self.tunnel_sock: socket.socket | None = None

    # -- events -------------------------------------------------------------------------------

    def _start(self, kind: EventKind, method: str = "") -> _Flight:
        self.flight = _Flight(kind, time.time(), time.monotonic(), method=method)
        return self.flight

    def _finish(self, decision: Decision, reason: Reason, detail: str) -> str:
        """Emit the flight's event; returns its human line (or the detail) for a response."""
        flight, self.flight = self.flight, None
        assert flight is not None
        up = down = 0
        if flight.tunnel is not None:
            up, down = flight.tunnel.up, flight.tunnel.down
        elif flight.upstream is not None:
            up = flight.upstream.sent - flight.sent0
            down = flight.upstream.received - flight.received0
        event = self.job.event(
            kind=flight.kind, started=flight.started, started_mono=flight.mono,
            decision=decision, reason=reason, detail=detail, host=flight.host, port=flight.port,
            ip=flight.ip, would_deny=flight.would_deny and decision is Decision.ALLOW,
            rule=flight.rule, bytes_up=up, bytes_down=down, method=flight.method,
            path=flight.path, status=flight.status,
        )
        self.job.emit(event)
        return log_line(event) or detail

    async def _refuse(self, status: int, reason: Reason, detail: str) -> None:
        """Deny the flight: event, then an error response unless one has started."""
        flight = self.flight
        assert flight is not None
        responded = flight.responded
        if not responded:
            flight.status = status
        line = self._finish(Decision.DENY, reason, detail)
        if not responded:
            with contextlib.suppress(OSError):
                await self.loop.sock_sendall(self.client, error_response(status, line, reason))

    # -- reading the client -------------------------------------------------------------------

    async def _recv_client(self, at: float) -> bytes:
        async with asyncio.timeout_at(at):
            return await self.loop.sock_recv(self.client, RECV)

    async def _client_event(self, conn: h11.Connection) -> h11.Event:
        """The client's next body event (Data, EndOfMessage), within the idle limit."""
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise Cut(400, Reason.BAD_REQUEST, f"sent a malformed body ({exc})") from exc
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            at = min(self.loop.time() + self.limits.idle_timeout_s, self.deadline)
            try:
                data = await self._recv_client(at)
            except TimeoutError as exc:
                raise Cut(408, Reason.IDLE_TIMEOUT, "stopped sending its request body") from exc
            except OSError as exc:
                raise Cut(400, Reason.BAD_REQUEST, f"client read failed ({exc})") from exc
            conn.receive_data(data)

    async def _verdict(self, host: Host, port: int) -> Verdict | None:
        flight = self.flight
        assert flight is not None
        verdict = await decide(host, port, self.job.config, self.ctx.resolver)
        flight.rule, flight.would_deny = verdict.rule, verdict.would_deny
        if verdict.allowed:
            return verdict
        if verdict.refused_ip is not None:
            flight.ip = str(verdict.refused_ip)
        status = 502 if verdict.reason is Reason.DNS_FAILURE else 403
        await self._refuse(status, verdict.reason, verdict.detail)
        return None

    async def _open(self, verdict: Verdict, port: int) -> tuple[socket.socket, str] | None:
        """A connected upstream socket to the first address that answers (all were checked)."""
        flight = self.flight
        assert flight is not None
        if self.job.upstream_connections >= self.limits.max_connections:
            await self._refuse(429, Reason.CONNECTION_LIMIT,
                               f"would exceed the job's {self.limits.max_connections} connections")
            return None
        self.job.upstream_connections += 1
        error: BaseException | None = None
        for address in verdict.addresses:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                async with asyncio.timeout(self.limits.connect_timeout_s):
                    await self.loop.sock_connect(sock, (str(address), port))
            except (OSError, TimeoutError) as exc:
                sock.close()
                error = exc
                continue
            except BaseException:
                sock.close()
                raise
            flight.ip = str(address)
            return sock, str(address)
        flight.ip = str(verdict.addresses[0])
        await self._refuse(502, Reason.CONNECT_FAILED,
                           f"could not be reached at {flight.ip} ({error or 'timeout'})")
        return None
