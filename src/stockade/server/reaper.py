"""The scheduler's background task: every ``reaper_interval_s``, requeue jobs whose agent
stopped heartbeating (a counted infrastructure retry, then ``lost``) and stop jobs that overran
their timeout. Safe with several servers: each change is a compare-and-set."""

from __future__ import annotations

import asyncio

import structlog

from stockade.server.state import ServerState
from stockade.store import dispatch

log = structlog.get_logger("stockade.server")


async def reap_forever(state: ServerState) -> None:
    """Run until cancelled; a failing pass is logged and retried on the next tick."""
    while True:
        try:
            effects = await state.call(dispatch.reap, state.db, state.retry)
            if effects.jobs:
                log.info("leases_reaped", job_ids=sorted(effects.jobs))
            state.notifier.publish(effects)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reaper_failed")
        await asyncio.sleep(state.settings.reaper_interval_s)
