"""Turns a step's stdout/stderr bytes into ordered, timestamped :class:`OutputLine` values.

Lines are split on ``\\n``; a line longer than ``max_line`` bytes is delivered in chunks so a
job cannot make the host buffer unbounded data. Bytes are decoded as UTF-8 with replacement.
"""

from __future__ import annotations

import time

from stockade.sandbox.interface import OutputCallback, OutputLine

MAX_LINE = 16 * 1024


class LineSplitter:
    """Buffers one stream of one step and emits whole lines (or chunks of a long one)."""

    def __init__(self, step: int, stream: str, emit: OutputCallback,
                 max_line: int = MAX_LINE) -> None:
        self._step = step
        self._stream = stream
        self._emit = emit
        self._max = max_line
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Add bytes read from the pipe; emit every complete line."""
        self._buf += data
        now = time.time()
        while True:
            nl = self._buf.find(b"\n", 0, self._max + 1)
            if nl >= 0:
                self._send(bytes(self._buf[:nl]), now)
                del self._buf[: nl + 1]
            elif len(self._buf) > self._max:
                self._send(bytes(self._buf[: self._max]), now)
                del self._buf[: self._max]
            else:
                break

    def close(self) -> None:
        """End of stream: emit what is left (a last line without newline)."""
        if self._buf:
            self._send(bytes(self._buf), time.time())
            self._buf.clear()

    def _send(self, raw: bytes, ts: float) -> None:
        self._emit(OutputLine(self._step, self._stream, raw.decode("utf-8", "replace"), ts))
