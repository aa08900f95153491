"""Moving bytes both ways between a client and its upstream, counted and bounded.

On Linux the bytes go socket -> pipe -> socket with ``splice(2)`` and never enter Python (the
loop only waits for readiness); elsewhere, or if a pipe cannot be had, a plain copy does the same
job. Either way every byte is counted against the job's byte budget before it is forwarded, so a
job never moves more than its limit, and the tunnel ends on idleness or its total time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket

from .interface import Reason
from .state import JobState

SPLICE = hasattr(os, "splice")
_FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)
CHUNK = 1 << 20  # bytes per splice/recv; the pipe is sized to it when the kernel allows
COPY_CHUNK = 256 * 1024


class _Stopped(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason = reason


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, write: bool) -> None:
    """Wait until ``fd`` is readable (or writable)."""
    future: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await future
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def _pipe() -> tuple[int, int] | None:
    try:
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, CHUNK)  # type: ignore[attr-defined]
    return read_fd, write_fd


class Tunnel:
    """One client connection's bytes to and from one upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket, job: JobState,
                 *, splice: bool = SPLICE) -> None:
        self.loop = asyncio.get_running_loop()
        self.client = client
        self.upstream = upstream
        self.job = job
        self.splice = splice and SPLICE
        self.up = 0
        self.down = 0
        limits = job.config.limits
        self.idle_s = limits.idle_timeout_s
        self.deadline = self.loop.time() + limits.max_connection_s
        self.last = self.loop.time()
        self._tasks: list[asyncio.Task[None]] = []

    def _count(self, count: int, upward: bool) -> None:
        self.last = self.loop.time()
        if upward:
            self.up += count
            self.job.bytes_up += count
        else:
            self.down += count
            self.job.bytes_down += count

    def start_down(self) -> None:
        """Start forwarding upstream -> client (before the client's first bytes are checked)."""
        self._tasks.append(asyncio.create_task(self._pump(self.upstream, self.client, False)))

    async def send_up(self, data: bytes) -> None:
        """Forward bytes already read from the client (its checked first bytes)."""
        if len(data) > self.job.bytes_left():
            raise _Stopped(Reason.BYTE_LIMIT)
        self._count(len(data), True)
        await self.loop.sock_sendall(self.upstream, data)

    async def run(self, first_up: bytes = b"") -> Reason | None:
        """Forward both ways until both sides close (None) or a limit stops it (the reason)."""
        try:
            if first_up:
                await self.send_up(first_up)
        except _Stopped as exc:
            await self.stop()
            return exc.reason
        except OSError:
            await self.stop()
            return None
        self._tasks.append(asyncio.create_task(self._pump(self.client, self.upstream, True)))
        try:
            return await self._supervise()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Cancel the pumps and wait for them: only then may the sockets be closed (a pump
        still registered with the loop would otherwise watch a reused descriptor number)."""
        for task in self._tasks:
            task.cancel()
        cancelled = False
        while not all(task.done() for task in self._tasks):
            try:
                await asyncio.wait(self._tasks)
            except asyncio.CancelledError:
                cancelled = True  # finish waiting first: the caller closes the sockets next
        for task in self._tasks:
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it as never retrieved
        if cancelled:
            raise asyncio.CancelledError

    async def _supervise(self) -> Reason | None:
        pending = set(self._tasks)
        while pending:
            now = self.loop.time()
            if now >= self.deadline:
                return Reason.TIME_LIMIT
            if now >= self.last + self.idle_s:
                return Reason.IDLE_TIMEOUT
            timeout = min(self.deadline, self.last + self.idle_s) - now
            done, pending = await asyncio.wait(
                pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                error = task.exception()
                if isinstance(error, _Stopped):
                    return error.reason
                if error is not None:
                    return None  # a reset or broken pipe: the connection is simply over
        return None

    async def _pump(self, src: socket.socket, dst: socket.socket, upward: bool) -> None:
        pipe = _pipe() if self.splice else None
        try:
            if pipe is None:
                await self._copy(src, dst, upward)
            else:
                await self._splice(src, dst, upward, pipe)
        finally:
            if pipe is not None:
                os.close(pipe[0])
                os.close(pipe[1])
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)  # pass the half-close on

    async def _splice(self, src: socket.socket, dst: socket.socket, upward: bool,
                      pipe: tuple[int, int]) -> None:
        read_fd, write_fd = pipe
        src_fd, dst_fd = src.fileno(), dst.fileno()
        while True:
            left = self.job.bytes_left()
            try:
                moved = os.splice(src_fd, write_fd, min(CHUNK, left) or 1, flags=_FLAGS)
            except BlockingIOError:
                await _ready(self.loop, src_fd, write=False)
                continue
            if moved == 0:
                return
            if left == 0:
                raise _Stopped(Reason.BYTE_LIMIT)  # the one byte read stays in the pipe
            self._count(moved, upward)
            while moved:
                try:
                    moved -= os.splice(read_fd, dst_fd, moved, flags=_FLAGS)
                except BlockingIOError:
                    await _ready(self.loop, dst_fd, write=True)

    async def _copy(self, src: socket.socket, dst: socket.socket, upward: bool) -> None:
        buffer = bytearray(COPY_CHUNK)
        view = memoryview(buffer)
        while True:
            left = self.job.bytes_left()
            count = await self.loop.sock_recv_into(src, view[: min(COPY_CHUNK, left) or 1])
            if count == 0:
                return
            if left == 0:
                raise _Stopped(Reason.BYTE_LIMIT)
            self._count(count, upward)
            await self.loop.sock_sendall(dst, view[:count])
