"""Reading logs: a page of lines, or a live Server-Sent Events stream that ends with the job
(or run): ``data:`` carries one LogLine, a final ``event: end`` carries the status.

A held log (fail-closed masking found a secret in it) is readable by admins only: others get
403 ``log_held``, and a stream they follow ends with ``event: held``. An admin releases it with
``POST /jobs/{id}/release-log``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from stockade.errors import Forbidden
from stockade.server.auth import admin, viewer
from stockade.server.models import JobOut, LogLineOut, LogPage
from stockade.server.notify import wait
from stockade.server.state import ServerState, get_state
from stockade.store import runs as store_runs
from stockade.store.credentials import Principal, role_at_least
from stockade.store.holds import release_log
from stockade.store.logs import read_job_logs, read_run_logs
from stockade.store.records import LogLineRecord
from stockade.store.states import FINAL_JOB, JobStatus
from stockade.store.transitions import run_is_final

router = APIRouter(prefix="/api/v1", tags=["logs"])
log = structlog.get_logger("stockade.server")

PAGE = 5000
KEEPALIVE_S = 15.0
# Followers re-check the database this often even without a wake-up (another server process
# may be the one receiving the logs).
POLL_S = 1.0

Fetch = Callable[[int], Awaitable[list[LogLineRecord]]]
# (final?, status, held from this reader?)
Final = Callable[[], Awaitable[tuple[bool, str, bool]]]


class LogHeld(Forbidden):
    code = "log_held"


def _refuse_held(what: str) -> LogHeld:
    return LogHeld(
        f"the log of {what} is held: a secret may have survived masking in it",
        hint="an admin must review it, then release it with POST /api/v1/jobs/{job_id}/"
             "release-log",
    )


def _may_read_held(who: Principal) -> bool:
    return role_at_least(who.role, "admin")


async def _follow(
    state: ServerState, key: str, after: int, fetch: Fetch, final: Final
) -> AsyncIterator[str]:
    idle = 0.0
    while True:
        woken = state.notifier.event(key)
        # checked before reading: no line can follow a final job, none a hold
        done, status, held = await final()
        if held:
            yield f"event: held\ndata: {json.dumps({'code': 'log_held'})}\n\n"
            return
        lines = await fetch(after)
        for line in lines:
            after = line.cursor
            yield f"id: {line.cursor}\ndata: {LogLineOut.of(line).model_dump_json()}\n\n"
        if len(lines) == PAGE:
            continue
        if done:
            yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
            return
        if lines:
            idle = 0.0
        if not await wait(woken, POLL_S):
            idle += POLL_S
            if idle >= KEEPALIVE_S:
                idle = 0.0
                yield ": keepalive\n\n"


def _sse(stream: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/jobs/{job_id}/logs", response_model=LogPage)
async def job_logs(
    job_id: str,
    after: int = Query(-1, ge=-1),
    follow: bool = Query(False),
    state: ServerState = Depends(get_state),
    who: Principal = Depends(viewer),
) -> LogPage | StreamingResponse:
    """Lines of one job after cursor ``after``; ``follow=true`` streams them as SSE."""
    job = await state.call(store_runs.get_job, state.db, job_id)  # 404 for an unknown job
    trusted = _may_read_held(who)
    if job.log_held and not trusted:
        raise _refuse_held(f"job {job_id}")

    async def fetch(cursor: int) -> list[LogLineRecord]:
        return await state.call(read_job_logs, state.db, job_id, cursor, PAGE)

    async def final() -> tuple[bool, str, bool]:
        job = await state.call(store_runs.get_job, state.db, job_id)
        return JobStatus(job.status) in FINAL_JOB, job.status, job.log_held and not trusted

    if follow:
        return _sse(_follow(state, f"job:{job_id}", after, fetch, final))
    done, _status, _held = await final()
    lines = await fetch(after)
    return LogPage(lines=[LogLineOut.of(x) for x in lines], done=done and len(lines) < PAGE)


@router.get("/runs/{run_id}/logs", response_model=LogPage)
async def run_logs(
    run_id: str,
    after: int = Query(-1, ge=-1),
    follow: bool = Query(False),
    state: ServerState = Depends(get_state),
    who: Principal = Depends(viewer),
) -> LogPage | StreamingResponse:
    """Lines of every job of a run: grouped in job order, or live by arrival with ``follow``."""
    run = await state.call(store_runs.get_run, state.db, run_id)
    trusted = _may_read_held(who)
    if not trusted and any(j.log_held for j in run.jobs):
        raise _refuse_held(f"a job of run {run_id}")

    async def final() -> tuple[bool, str, bool]:
        run = await state.call(store_runs.get_run, state.db, run_id)
        held = not trusted and any(j.log_held for j in run.jobs)
        return run_is_final(run.status), run.status, held

    if follow:

        async def fetch(cursor: int) -> list[LogLineRecord]:
            return await state.call(read_run_logs, state.db, run_id, cursor, PAGE)

        return _sse(_follow(state, f"run:{run_id}", after, fetch, final))
    done, _status, _held = await final()
    lines = await state.call(read_run_logs, state.db, run_id, after, PAGE * 4, by_job=True)
    return LogPage(lines=[LogLineOut.of(x) for x in lines], done=done and len(lines) < PAGE * 4)


@router.post("/jobs/{job_id}/release-log", response_model=JobOut)
async def release_job_log(
    job_id: str, state: ServerState = Depends(get_state), who: Principal = Depends(admin)
) -> JobOut:
    """An admin reviewed a held log: everyone with read access may see it again (audited)."""
    await state.call(release_log, state.db, job_id, who.name)
    log.info("job_log_released", job_id=job_id, by=who.name)
    return JobOut.of(await state.call(store_runs.get_job, state.db, job_id))
