"""The upstream side of one plain-HTTP request: an h11 client connection, counted and bounded."""

from __future__ import annotations

import asyncio
import socket

import h11

from .http import Cut
from .interface import Reason
from .state import JobState

RECV = 256 * 1024


class Upstream:
    """One upstream connection; reused only by the next request to the same host and port."""

    def __init__(self, sock: socket.socket, key: tuple[str, int], ip: str, job: JobState,
                 deadline: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.key = key
        self.ip = ip
        self.job = job
        self.deadline = deadline  # the client connection's own time limit
        self.conn = h11.Connection(h11.CLIENT)
        self.sent = 0
        self.received = 0

    async def send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if not data:
            return
        if len(data) > self.job.bytes_left():
            raise Cut(502, Reason.BYTE_LIMIT, "reached the job's byte limit")
        self.sent += len(data)
        self.job.bytes_up += len(data)
        try:
            await self.loop.sock_sendall(self.sock, data)
        except OSError as exc:
            raise Cut(502, Reason.UPSTREAM_ERROR, f"upstream send failed ({exc})") from exc

    async def next_event(self) -> h11.Event:
        """The upstream's next h11 event, reading (within the idle and time limits) as needed."""
        limits = self.job.config.limits
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise Cut(502, Reason.UPSTREAM_ERROR, f"upstream broke HTTP ({exc})") from exc
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            at = min(self.loop.time() + limits.idle_timeout_s, self.deadline)
            try:
                async with asyncio.timeout_at(at):
                    data = await self.loop.sock_recv(self.sock, RECV)
            except TimeoutError as exc:
                reason = Reason.TIME_LIMIT if at >= self.deadline else Reason.IDLE_TIMEOUT
                raise Cut(504, reason, "the upstream did not answer in time") from exc
            except OSError as exc:
                raise Cut(502, Reason.UPSTREAM_ERROR, f"upstream read failed ({exc})") from exc
            if len(data) > self.job.bytes_left():
                raise Cut(502, Reason.BYTE_LIMIT, "reached the job's byte limit")
            self.received += len(data)
            self.job.bytes_down += len(data)
            self.conn.receive_data(data)

    def reusable(self) -> bool:
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    def alive(self) -> bool:
        """Whether the idle connection is still open (the server may have closed it meanwhile)."""
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # EOF, or bytes nobody asked for: not reusable
        except BlockingIOError:
            return True
        except OSError:
            pass
        return False

    def close(self) -> None:
        self.sock.close()
