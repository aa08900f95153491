"""SIGTERM and SIGINT recorded by a handler that takes no lock and does no I/O.

A Python signal handler runs in the main thread between two bytecodes, possibly while that thread
holds a lock: inside ``threading.Event.wait`` (which holds the event's lock around its timed
sleep), or inside a log write. A handler that then sets that event, or logs, waits for a lock
its own thread holds: the process hangs for ever, deaf to any further SIGTERM. So the handler
only records the signal, and the main thread polls :attr:`StopSignals.received` and does the
work (log, set events, stop children) in ordinary code.
"""

from __future__ import annotations

import signal
import time
from types import FrameType

_POLL_S = 0.05


class StopSignals:
    """The first SIGTERM or SIGINT received, once :meth:`install` ed (from the main thread)."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> StopSignals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.record)
        return self

    def record(self, signum: int, _frame: FrameType | None = None) -> None:
        """The handler: an assignment, nothing that could wait."""
        if self.received is None:
            self.received = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``; True as soon as a signal has been received."""
        deadline = time.monotonic() + timeout_s
        while self.received is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(_POLL_S, remaining))
        return True
