"""One client connection of one job: read each request head, decide, then tunnel or forward.

Each request on the connection is decided on its own (pipelining included) and an upstream
connection is only ever reused by a later request to the same host and port. Any error ends
the request with an error response (when none has started) and closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import time
from dataclasses import dataclass

import h11

from .decide import Verdict, decide
from .events import log_line
from .forward import Upstream
from .hosts import Host, HostError, normalize_host, split_authority
from .http import Cut, Target, error_response, filter_headers, head_size, parse_target
from .interface import INTERNAL_HOST, Decision, EventKind, Reason, Resolver
from .internal import default_internal
from .state import JobState
from .tls import HelloStatus, parse_client_hello
from .tunnel import SPLICE, Tunnel

log = logging.getLogger("stockade.egress")
RECV = 64 * 1024
MAX_INTERNAL_BODY = 1024**2
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


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


class Session:
    """Serves one accepted client connection until it closes or is cut."""

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

    async def run(self) -> None:
        try:
            await self._serve()
        except asyncio.CancelledError:
            if self.flight is not None:
                self._finish(Decision.ALLOW, Reason.JOB_ENDED, "was open when the job ended")
            raise
        except Exception:
            log.exception("egress session failed (job %s, run %s)", self.job.job_id,
                          self.job.config.run_id)
            if self.flight is not None:
                self._finish(Decision.DENY, Reason.UPSTREAM_ERROR, "failed inside the proxy")
        finally:
            if self.upstream is not None:
                self.upstream.close()
            if self.tunnel_sock is not None:
                self.tunnel_sock.close()
            self.client.close()

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

    async def _read_head(self, conn: h11.Connection, first: bool) -> h11.Request | None:
        """The next request head, or None when the client is done (or was refused)."""
        header_s = self.limits.header_timeout_s
        started: float | None = self.accepted if first else None
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                too_big = exc.error_status_hint == 431
                self._start(EventKind.HTTP)
                await self._refuse(
                    431 if too_big else 400,
                    Reason.HEADER_TOO_LARGE if too_big else Reason.BAD_REQUEST,
                    f"sent a request head larger than {self.limits.max_header_bytes} bytes"
                    if too_big else f"sent a malformed request ({exc})",
                )
                return None
            if isinstance(event, h11.Request):
                # h11 caps only heads still incomplete; one that arrived whole is measured here.
                if head_size(event) > self.limits.max_header_bytes:
                    self._start(EventKind.HTTP, event.method.decode("ascii", "replace"))
                    await self._refuse(431, Reason.HEADER_TOO_LARGE,
                                       f"sent a request head larger than "
                                       f"{self.limits.max_header_bytes} bytes")
                    return None
                return event
            if event is not h11.NEED_DATA:
                return None  # ConnectionClosed, or PAUSED after a protocol switch
            if started is None and conn.trailing_data[0]:
                started = self.loop.time()  # pipelined bytes: the head's clock runs from now
            if started is None:
                at = min(self.loop.time() + self.limits.idle_timeout_s, self.deadline)
            else:
                at = min(started + header_s, self.deadline)
            try:
                data = await self._recv_client(at)
            except TimeoutError:
                if started is None:
                    return None  # an idle keep-alive connection: closed without a word
                self._start(EventKind.HTTP)
                await self._refuse(408, Reason.HEADER_TIMEOUT,
                                   f"did not complete a request head within {header_s:g} s")
                return None
            except OSError:
                return None
            if started is None:
                started = self.loop.time()
            conn.receive_data(data)

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

    # -- the connection -----------------------------------------------------------------------

    async def _serve(self) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        first = True
        while True:
            request = await self._read_head(conn, first)
            first = False
            if request is None:
                return
            method = request.method.decode("ascii", "replace")
            if request.method == b"CONNECT":
                self._start(EventKind.CONNECT, method)
                await self._connect(conn, request)
                return
            self._start(EventKind.HTTP, method)
            try:
                keep = await self._request(conn, request)
            except Cut as cut:
                if self.flight is not None:
                    await self._refuse(cut.status, cut.reason, cut.detail)
                return
            if not keep or h11.MUST_CLOSE in (conn.our_state, conn.their_state):
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

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

    # -- CONNECT ------------------------------------------------------------------------------

    async def _connect(self, conn: h11.Connection, request: h11.Request) -> None:
        flight = self.flight
        assert flight is not None
        target = request.target.decode("ascii", "replace")
        try:
            host_text, port = split_authority(target, default_port=None)
            host = normalize_host(host_text)
        except HostError as exc:
            await self._refuse(400, Reason.BAD_REQUEST, f"sent CONNECT {target!r}: {exc}")
            return
        flight.host, flight.port = host.name, port
        if host.name == INTERNAL_HOST:
            await self._refuse(403, Reason.RESERVED_HOST,
                               "is reserved: the proxy serves it itself, over plain http only")
            return
        verdict = await self._verdict(host, port)
        if verdict is None:
            return
        opened = await self._open(verdict, port)
        if opened is None:
            return
        self.tunnel_sock = opened[0]
        try:
            await self.loop.sock_sendall(self.client, ESTABLISHED)
        except OSError:
            self._finish(Decision.ALLOW, verdict.reason, "the client left before the tunnel")
            return
        flight.responded = True
        flight.status = 200
        tunnel = flight.tunnel = Tunnel(self.client, self.tunnel_sock, self.job,
                                        splice=self.ctx.splice)
        tunnel.start_down()
        first, refusal = await self._first_bytes(conn.trailing_data[0], host, tunnel)
        if refusal is not None:
            await tunnel.stop()
            reason, detail = refusal
            if reason is Reason.IDLE_TIMEOUT:
                self._finish(Decision.ALLOW, reason, detail)
            else:
                self._finish(Decision.DENY, reason, detail)
            return
        stop = await tunnel.run(first)
        if stop is None:
            self._finish(Decision.ALLOW, verdict.reason, verdict.detail)
        elif stop is Reason.IDLE_TIMEOUT:
            self._finish(Decision.ALLOW, stop,
                         f"closed after {self.limits.idle_timeout_s:g} s without traffic")
        elif stop is Reason.TIME_LIMIT:
            self._finish(Decision.DENY, stop,
                         f"closed at the {self.limits.max_connection_s:g} s connection limit")
        else:
            self._finish(Decision.DENY, stop,
                         f"closed at the job's {self.limits.max_bytes} byte limit")

    async def _first_bytes(self, data: bytes, host: Host,
                           tunnel: Tunnel) -> tuple[bytes, tuple[Reason, str] | None]:
        """The client's first bytes, read until they are known not to be a TLS hello, or the
        hello is complete; with the refusal when its server name is not the CONNECT host."""
        hello_s = self.limits.header_timeout_s
        hello_started = self.loop.time() if data else None
        while True:
            result = parse_client_hello(data)
            if result.status is not HelloStatus.NEED_MORE:
                break
            if hello_started is not None:
                at = min(hello_started + hello_s, self.deadline)
            else:
                at = min(tunnel.last + self.limits.idle_timeout_s, self.deadline)
            try:
                chunk = await self._recv_client(at)
            except TimeoutError:
                if hello_started is not None:
                    return b"", (Reason.HEADER_TIMEOUT,
                                 f"did not complete its TLS hello within {hello_s:g} s")
                now = self.loop.time()
                if now < tunnel.last + self.limits.idle_timeout_s and now < self.deadline:
                    continue  # the upstream spoke meanwhile: the tunnel is not idle
                return b"", (Reason.IDLE_TIMEOUT, "closed: the client never sent a byte")
            except OSError:
                return b"", None
            if not chunk:
                if data:
                    return b"", (Reason.BAD_CLIENT_HELLO, "closed in the middle of its TLS hello")
                return b"", None
            if hello_started is None:
                hello_started = self.loop.time()
            data += chunk  # the parser refuses a hello over MAX_HELLO_BYTES on the next pass
        if result.status is HelloStatus.NOT_TLS:
            return data, None
        if result.status is HelloStatus.MALFORMED:
            return b"", (Reason.BAD_CLIENT_HELLO, f"sent a TLS hello that does not parse "
                                                  f"({result.error})")
        if result.server_name is None:
            if host.ip is not None:
                return data, None  # no name to compare with an address: the address was checked
            return b"", (Reason.SNI_MISSING,
                         "sent a TLS hello without a server name (SNI) to a named host")
        try:
            sni = normalize_host(result.server_name)
        except HostError:
            return b"", (Reason.BAD_CLIENT_HELLO,
                         f"sent the invalid TLS server name {result.server_name!r}")
        if sni.name != host.name:
            return b"", (Reason.SNI_MISMATCH,
                         f"carried the TLS server name {sni.name}, not the CONNECT host")
        return data, None

    # -- plain HTTP ---------------------------------------------------------------------------

    async def _request(self, conn: h11.Connection, request: h11.Request) -> bool:
        """One absolute-URI request; True when the connection may serve another."""
        flight = self.flight
        assert flight is not None
        text = request.target.decode("ascii", "replace")
        try:
            target = parse_target(text)
            host_text, port = split_authority(target.authority, default_port=80)
            host = normalize_host(host_text)
        except HostError as exc:
            await self._refuse(400, Reason.BAD_REQUEST, f"sent {flight.method} {text!r}: {exc}")
            return False
        flight.host, flight.port, flight.path = host.name, port, target.path
        if not await self._host_header_ok(request, host, port):
            return False
        if host.name == INTERNAL_HOST:
            flight.kind = EventKind.INTERNAL
            if port != 80:
                await self._refuse(403, Reason.RESERVED_HOST,
                                   "is reserved: the proxy serves it on port 80 only")
                return False
            return await self._internal(conn, request, target)
        upstream = await self._upstream_for(host, port)
        if upstream is None:
            return False
        flight.upstream, flight.ip = upstream, upstream.ip
        flight.sent0, flight.received0 = upstream.sent, upstream.received
        return await self._exchange(conn, request, target, host, port=port, upstream=upstream)

    async def _host_header_ok(self, request: h11.Request, host: Host, port: int) -> bool:
        values = [value for name, value in request.headers if name == b"host"]
        if not values:
            return True
        raw = values[0].decode("ascii", "replace")
        try:
            header_host, header_port = split_authority(raw, default_port=80)
            named = normalize_host(header_host)
        except HostError:
            named, header_port = Host(""), 0
        if (named.name, header_port) == (host.name, port):
            return True
        await self._refuse(400, Reason.HOST_MISMATCH,
                           f"has the Host header {raw!r}, which names another host than the URI")
        return False

    async def _upstream_for(self, host: Host, port: int) -> Upstream | None:
        """The upstream for this request: the previous one if it went to the same place."""
        previous = self.upstream
        if previous is not None and previous.key == (host.name, port) and previous.reusable() \
                and previous.alive():
            entry = self.job.config.allowlist.match(host, port)
            if entry is not None or self.job.config.audit:
                previous.conn.start_next_cycle()
                assert self.flight is not None
                self.flight.rule = str(entry) if entry is not None else None
                self.flight.would_deny = entry is None
                return previous
        if previous is not None:
            previous.close()
            self.upstream = None
        verdict = await self._verdict(host, port)
        if verdict is None:
            return None
        opened = await self._open(verdict, port)
        if opened is None:
            return None
        self.upstream = Upstream(opened[0], (host.name, port), opened[1], self.job, self.deadline)
        return self.upstream

    async def _exchange(self, conn: h11.Connection, request: h11.Request, target: Target,
                        host: Host, *, port: int, upstream: Upstream) -> bool:
        flight = self.flight
        assert flight is not None
        authority = str(host) if port == 80 else host.authority(port)
        headers = [(n, v) for n, v in filter_headers(list(request.headers.raw_items()))
                   if n.lower() != b"host"]
        headers.insert(0, (b"host", authority.encode("ascii")))
        await upstream.send(h11.Request(method=request.method, target=target.origin_form,
                                        headers=headers))
        if conn.they_are_waiting_for_100_continue:
            await self._to_client(conn.send(h11.InformationalResponse(status_code=100,
                                                                      headers=[])))
        while True:
            event = await self._client_event(conn)
            if isinstance(event, h11.Data):
                await upstream.send(h11.Data(data=event.data))
            elif isinstance(event, h11.EndOfMessage):
                await upstream.send(h11.EndOfMessage())
                break
            else:
                raise Cut(400, Reason.BAD_REQUEST, "closed before the end of its request")
        while True:
            answer = await upstream.next_event()
            if isinstance(answer, h11.Response):
                break
            if not isinstance(answer, h11.InformationalResponse):
                raise Cut(502, Reason.UPSTREAM_ERROR, "the upstream closed without answering")
        response_headers = filter_headers(list(answer.headers.raw_items()))
        await self._to_client(conn.send(h11.Response(status_code=answer.status_code,
                                                     headers=response_headers,
                                                     reason=answer.reason)))
        flight.responded = True
        flight.status = answer.status_code
        while True:
            part = await upstream.next_event()
            if isinstance(part, h11.Data):
                await self._to_client(conn.send(h11.Data(data=part.data)))
            elif isinstance(part, h11.EndOfMessage):
                await self._to_client(conn.send(h11.EndOfMessage()))
                break
            else:
                raise Cut(502, Reason.UPSTREAM_ERROR, "the upstream closed mid-response")
        if upstream.conn.their_state is h11.MUST_CLOSE or not upstream.reusable():
            upstream.close()
            self.upstream = None
        reason = Reason.NOT_LISTED if flight.would_deny else Reason.ALLOWED
        detail = "is not in the allowlist (allowed: audit mode)" if flight.would_deny \
            else f"matches {flight.rule}"
        self._finish(Decision.ALLOW, reason, detail)
        return True

    async def _to_client(self, data: bytes | None) -> None:
        if not data:
            return
        try:
            await self.loop.sock_sendall(self.client, data)
        except OSError as exc:
            raise Cut(400, Reason.UPSTREAM_ERROR, f"client went away ({exc})") from exc

    # -- stockade.internal --------------------------------------------------------------------

    async def _internal(self, conn: h11.Connection, request: h11.Request, target: Target) -> bool:
        flight = self.flight
        assert flight is not None
        size = 0
        while True:  # the body is read and dropped: it is never logged nor kept
            event = await self._client_event(conn)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_INTERNAL_BODY:
                    await self._refuse(413, Reason.BAD_REQUEST,
                                       f"sent a body over {MAX_INTERNAL_BODY} bytes")
                    return False
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return False
        headers = tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers)
        handler = self.job.config.internal or default_internal
        method = flight.method
        try:
            reply = handler(method, target.path, target.query, headers)
            if inspect.isawaitable(reply):
                reply = await reply
            status, reply_headers, body = reply  # type: ignore[misc]
        except Exception:
            log.exception("stockade.internal handler failed (job %s, run %s, path %s)",
                          self.job.job_id, self.job.config.run_id, target.path)
            status, reply_headers = 500, [("content-type", "application/json")]
            body = b'{"code":"internal_error","message":"the handler failed"}'
        skip = {"content-length", "transfer-encoding", "connection"}
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply_headers
               if k.lower() not in skip]
        out.append((b"content-length", str(len(body)).encode()))
        try:
            await self._to_client(conn.send(h11.Response(status_code=status, headers=out)))
            flight.responded, flight.status = True, status
            if method != "HEAD" and body:
                await self._to_client(conn.send(h11.Data(data=body)))
            await self._to_client(conn.send(h11.EndOfMessage()))
        except Cut:
            self._finish(Decision.ALLOW, Reason.INTERNAL, "client left during the answer")
            return False
        self._finish(Decision.ALLOW, Reason.INTERNAL, "served by the proxy")
        return True
