"""Absolute-URI plain HTTP: check the target and Host header, forward with h11, or answer
stockade.internal itself."""

from __future__ import annotations

import inspect
import logging

import h11

from .base import SessionBase
from .forward import Upstream
from .hosts import Host, HostError, normalize_host, split_authority
from .http import Cut, Target, filter_headers, parse_target
from .interface import INTERNAL_HOST, Decision, EventKind, Reason
from .internal import default_internal

log = logging.getLogger("stockade.egress")
MAX_INTERNAL_BODY = 1024**2


class HttpSession(SessionBase):
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
