"""CONNECT: decide, open the upstream, check the client's first bytes (SNI), then tunnel."""

from __future__ import annotations

import h11

from .base import SessionBase
from .hosts import Host, HostError, normalize_host, split_authority
from .interface import INTERNAL_HOST, Decision, Reason
from .tls import HelloStatus, parse_client_hello
from .tunnel import Tunnel

ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


class ConnectSession(SessionBase):
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
