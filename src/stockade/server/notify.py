"""In-process wake-ups: a long-poll or a log follower sleeps until something it watches changes.

Keys are strings such as ``pool:untrusted``, ``job:<id>`` or ``run:<id>``. A waiter takes the
key's event *before* it looks at the database, so a change committed between its look and its
sleep still wakes it. Other server processes cannot reach these events; waiters therefore also
re-check the database periodically, which keeps several servers on one database correct.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from stockade.store.records import Effects


class Notifier:
    """Thread-safe wake-ups for asyncio waiters on one event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: dict[str, asyncio.Event] = {}
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def event(self, key: str) -> asyncio.Event:
        """The event the next change of ``key`` will set (take it before checking the DB)."""
        with self._lock:
            ev = self._events.get(key)
            if ev is None:
                ev = self._events[key] = asyncio.Event()
            return ev

    def notify(self, key: str) -> None:
        """Wake everyone waiting on ``key``; callable from any thread."""
        with self._lock:
            ev = self._events.pop(key, None)
        if ev is None or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            ev.set()
        else:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                self._loop.call_soon_threadsafe(ev.set)

    def publish(self, effects: Effects) -> None:
        """Wake the waiters of everything a committed transaction changed."""
        for pool in effects.pools:
            self.notify(f"pool:{pool}")
        for job in effects.jobs:
            self.notify(f"job:{job}")
        for run in effects.runs:
            self.notify(f"run:{run}")


async def wait(event: asyncio.Event, timeout: float) -> bool:
    """Sleep until ``event`` is set or ``timeout`` passes; True when it was set."""
    if timeout <= 0:
        return event.is_set()
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True
