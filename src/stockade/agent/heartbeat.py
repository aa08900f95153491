"""Keep a lease alive while its job runs, and turn the server's "stop" into a cancel event."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from stockade.agent.protocol import LeaseLost
from stockade.api.agent import HeartbeatResponse
from stockade.errors import StockadeError


class Heartbeat:
    """A thread that heartbeats every ``interval_s`` until stopped.

    When the server answers ``cancel`` (someone cancelled the run) or ``lease_lost`` (the lease
    expired or was taken away), ``cancel`` is set so the executor stops the job; ``lost`` tells the
    caller not to complete a lease that is no longer its own. A server that cannot be reached is
    retried at the next beat: the lease TTL, not the agent, decides when the job is given up.
    """

    def __init__(
        self,
        beat: Callable[[], HeartbeatResponse],
        interval_s: float,
        cancel: threading.Event,
        log: Any,
    ) -> None:
        self._beat = beat
        self._interval_s = interval_s
        self._cancel = cancel
        self._log = log
        self._stop = threading.Event()
        self.lost = threading.Event()
        self.cancelled_by_server = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=20.0)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                answer = self._beat()
            except LeaseLost:
                self._log.warning("lease lost; stopping the job")
                self.lost.set()
                self._cancel.set()
                return
            except StockadeError as exc:
                self._log.warning("heartbeat failed", error=exc.message)
                continue
            if answer.cancel and not self.cancelled_by_server.is_set():
                self._log.info("server asked to cancel the job")
                self.cancelled_by_server.set()
                self._cancel.set()
