"""Runs and jobs: submit, list, show, cancel, approve."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Depends, Query

from stockade.server.auth import maintainer, viewer
from stockade.server.models import JobOut, RunCreate, RunList, RunOut
from stockade.server.state import ServerState, get_state
from stockade.server.submit import Submission, submit
from stockade.store import runs as store_runs
from stockade.store.credentials import Principal

router = APIRouter(prefix="/api/v1", tags=["runs"])
log = structlog.get_logger("stockade.server")


@router.post("/runs", status_code=201, response_model=RunOut)
async def create_run(
    body: RunCreate,
    state: ServerState = Depends(get_state),
    who: Principal = Depends(maintainer),
) -> RunOut:
    """Submit a run of one commit; the pipeline is read at that commit unless given."""
    sub = Submission(
        repository=body.repository,
        ref=body.ref,
        sha=body.sha,
        event=body.event,
        actor=who.name,
        # A person holding a maintainer token belongs to this installation.
        author_association="MEMBER",
        requested_tier=body.tier,
        pipeline=body.pipeline,
        priority=body.priority,
    )
    run_id, effects = await state.call(submit, state, sub)
    state.notifier.publish(effects)
    run = await state.call(store_runs.get_run, state.db, run_id)
    log.info(
        "run_submitted", run_id=run_id, sha=run.sha, tier=run.tier, pool=run.pool, actor=who.name
    )
    return RunOut.of(run)


@router.get("/runs", response_model=RunList)
async def list_runs(
    limit: int = Query(50, ge=1, le=500),
    state: ServerState = Depends(get_state),
    _: Principal = Depends(viewer),
) -> RunList:
    """The newest runs first."""
    found = await state.call(store_runs.list_runs, state.db, limit)
    return RunList(runs=[RunOut.of(r) for r in found])


@router.get("/runs/{run_id}", response_model=RunOut)
async def get_run(
    run_id: str, state: ServerState = Depends(get_state), _: Principal = Depends(viewer)
) -> RunOut:
    """One run with its jobs and their steps."""
    return RunOut.of(await state.call(store_runs.get_run, state.db, run_id))


@router.post("/runs/{run_id}/cancel", response_model=RunOut)
async def cancel_run(
    run_id: str, state: ServerState = Depends(get_state), who: Principal = Depends(maintainer)
) -> RunOut:
    """Cancel waiting jobs now; ask running ones to stop (their agents hear it on heartbeat)."""
    await state.change(store_runs.cancel_run, state.db, run_id)
    log.info("run_cancel_requested", run_id=run_id, by=who.name)
    return RunOut.of(await state.call(store_runs.get_run, state.db, run_id))


@router.post("/runs/{run_id}/approve", response_model=RunOut)
async def approve_run(
    run_id: str, state: ServerState = Depends(get_state), who: Principal = Depends(maintainer)
) -> RunOut:
    """Approve a run of a tier that requires it; the approver must not be its author."""
    await state.change(store_runs.approve_run, state.db, run_id, who.name)
    log.info("run_approved", run_id=run_id, by=who.name)
    return RunOut.of(await state.call(store_runs.get_run, state.db, run_id))


@router.get("/jobs/{job_id}", response_model=JobOut)
async def get_job(
    job_id: str, state: ServerState = Depends(get_state), _: Principal = Depends(viewer)
) -> JobOut:
    """One job with its current attempt's steps."""
    return JobOut.of(await state.call(store_runs.get_job, state.db, job_id))
