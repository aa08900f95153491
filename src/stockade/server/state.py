"""What every route needs, built once at start: settings, database, policy, wake-ups."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request

from stockade.config import Settings
from stockade.masking import Masker
from stockade.policy import Policy
from stockade.secrets.crypto import MasterKey
from stockade.server.metrics import Metrics
from stockade.server.notify import Notifier
from stockade.store.database import Database
from stockade.store.dispatch import RetryPolicy
from stockade.store.records import Effects

T = TypeVar("T")


class JobMasker:
    """The server-side masker of one job attempt: the values granted to it, token shapes."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.masker = Masker()
        self.lock = threading.Lock()  # a Masker is not thread-safe; requests run in threads

    def add(self, values: dict[str, str]) -> None:
        with self.lock:
            fresh = [v for n, v in values.items() if n not in self.names]
            if fresh:
                self.masker.add(*fresh)
            self.names.update(values)

    def mask(self, texts: Iterable[str]) -> list[str]:
        """Each text masked on its own (whole-chunk masking: the agent masked the stream)."""
        with self.lock:
            return [self.masker.mask(t) if t else t for t in texts]


class MaskerCache:
    """One :class:`JobMasker` per live job attempt, the least recently used dropped first."""

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[str, int], JobMasker] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job_id: str, attempt: int) -> JobMasker:
        with self._lock:
            key = (job_id, attempt)
            found = self._items.get(key)
            if found is None:
                found = self._items[key] = JobMasker()
                while len(self._items) > self._capacity:
                    self._items.popitem(last=False)
            self._items.move_to_end(key)
            return found


@dataclass(frozen=True)
class ServerState:
    settings: Settings
    db: Database
    policy: Policy
    notifier: Notifier
    # Encrypts secrets and signing keys; None only for apps built without start-up (tests).
    master_key: MasterKey | None = field(default=None, repr=False)
    maskers: MaskerCache = field(default_factory=MaskerCache)
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def master(self) -> MasterKey:
        if self.master_key is None:
            raise RuntimeError("the server started without a master key")
        return self.master_key

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(
            lease_ttl_s=self.settings.lease_ttl_s,
            max_infra_retries=self.settings.max_infra_retries,
            timeout_grace_s=self.settings.job_timeout_grace_s,
        )

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store function off the event loop."""
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    async def change(self, fn: Callable[..., Effects], *args: Any, **kwargs: Any) -> Effects:
        """Run a store function that changes state, then wake whoever watches what it changed."""
        effects = await self.call(fn, *args, **kwargs)
        self.notifier.publish(effects)
        return effects


async def get_state(request: Request) -> ServerState:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a hop per request.
    state: ServerState = request.app.state.stockade
    return state
