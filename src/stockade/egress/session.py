"""One client connection of one job: read each request head, decide, then tunnel or forward.

Each request on the connection is decided on its own (pipelining included) and an upstream
connection is only ever reused by a later request to the same host and port. Any error ends
the request with an error response (when none has started) and closes the connection.
"""

from __future__ import annotations

import asyncio
import logging

import h11

from .base import ProxyContext
from .connect import ConnectSession
from .http import Cut, head_size
from .interface import Decision, EventKind, Reason
from .plainhttp import HttpSession

__all__ = ["ProxyContext", "Session"]
log = logging.getLogger("stockade.egress")


class Session(ConnectSession, HttpSession):
    """Serves one accepted client connection until it closes or is cut."""

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
