"""What every route needs, built once at start: settings, database, policy, wake-ups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request

from stockade.config import Settings
from stockade.policy import Policy
from stockade.server.notify import Notifier
from stockade.store.database import Database
from stockade.store.dispatch import RetryPolicy
from stockade.store.records import Effects

T = TypeVar("T")


@dataclass(frozen=True)
class ServerState:
    settings: Settings
    db: Database
    policy: Policy
    notifier: Notifier

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
