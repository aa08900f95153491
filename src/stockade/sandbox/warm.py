"""A warm sandbox: the next job's sandbox, created while the current job runs.

Creating a sandbox (the runtime's ``run``: namespaces, cgroups, mounts, seccomp, pid 1) is most
of a short job's cost. With a warm pool the executor keeps one sandbox *prepared* — created,
its workspace mounted and empty, pid 1 waiting, nothing of any job in it — for the image and
limits of the job it just took, and builds it on a thread of its own while that job runs.
A job whose image and limits match takes it; any other job is created cold, as always.

A prepared sandbox is never shared: it is taken by exactly one job, which then fills its
workspace, opens its network listener and runs its steps, and it is torn down and proved gone
with that job like any other. One that is never taken is torn down when the executor closes or
when a job of other limits comes, with the same proof.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

from stockade.sandbox.cgroups import SandboxCgroup
from stockade.sandbox.spec import SandboxSpec
from stockade.sandbox.teardown import SandboxTrace

log = logging.getLogger(__name__)


@dataclass
class Box:
    """One sandbox as the executor drives it: made blank, then started, then used once."""

    spec: SandboxSpec
    job_dir: Path
    bundle: Path
    cgroup: SandboxCgroup
    trace: SandboxTrace
    pid1: int | None = None
    started: bool = False

    def alive(self) -> bool:
        """Whether a started box's pid 1 still runs (a box without one is always fine)."""
        if self.pid1 is None:
            return True
        try:
            stat = Path(f"/proc/{self.pid1}/stat").read_text()
        except OSError:
            return False
        return not stat[stat.rfind(")") + 2 :].startswith(("Z", "X"))


class WarmPool:
    """At most one prepared box, for one key (image root and limits)."""

    def __init__(self, make: Callable[[Hashable], Box], start: Callable[[Box], None],
                 discard: Callable[[Box], None]) -> None:
        self._make = make  # a blank box for a key (pure)
        self._start = start  # start a blank box (runtime calls)
        self._discard = discard  # tear a box down and prove it gone
        self._lock = threading.Lock()
        self._ready: tuple[Hashable, Box] | None = None
        self._building: threading.Thread | None = None
        self.hits = 0
        self.misses = 0

    def take(self, key: Hashable) -> Box | None:
        """The prepared box for ``key``, or None (a box for another key is discarded)."""
        self._wait()
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is None:
            self.misses += 1
            return None
        ready_key, box = ready
        if ready_key == key and box.alive():
            self.hits += 1
            return box
        self.misses += 1
        self._discard(box)
        return None

    def refill(self, key: Hashable) -> None:
        """Start preparing a box for ``key`` in the background (unless one is on its way)."""
        with self._lock:
            if self._building is not None or self._ready is not None:
                return
            self._building = threading.Thread(target=self._build, args=(key,),
                                              name="stockade-warm", daemon=True)
            self._building.start()

    def close(self) -> None:
        """Wait for a box being built and discard what is prepared."""
        self._wait()
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is not None:
            self._discard(ready[1])

    def _wait(self) -> None:
        with self._lock:
            building = self._building
        if building is not None:
            building.join()

    def _build(self, key: Hashable) -> None:
        box = self._make(key)
        ok = False
        try:
            self._start(box)
            ok = True
        except Exception as exc:  # the next job is simply created cold
            log.warning("warm sandbox %s could not be prepared: %s", box.spec.sandbox_id, exc)
        if not ok:
            self._discard(box)
        with self._lock:
            if ok:
                self._ready = (key, box)
            self._building = None
