"""Applying job state changes inside a transaction, and what follows from them.

``move_job`` is the only writer of ``jobs.status``: it checks the transition table and does a
compare-and-set on the current status, so two servers racing on one job cannot both win.
``settle_run`` then releases or skips dependents and derives the run's status.
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from stockade.errors import Conflict
from stockade.store.records import Effects
from stockade.store.schema import jobs, runs
from stockade.store.states import (
    FINAL_JOB,
    FINAL_RUN,
    JobStatus,
    RunStatus,
    check_transition,
    derive_run_status,
)


def move_job(
    conn: sa.Connection,
    job_id: str,
    current: str,
    new: JobStatus,
    effects: Effects,
    **values: Any,
) -> None:
    """Move one job from ``current`` to ``new`` (checked), setting ``values`` alongside."""
    check_transition(current, new)
    now = time.time()
    if new in FINAL_JOB:
        values.setdefault("finished_at", now)
    if new == JobStatus.QUEUED:
        values.setdefault("queued_at", now)
    result = conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == current)
        .values(status=new.value, **values)
    )
    if result.rowcount != 1:
        raise Conflict(f"job {job_id} changed while it was being updated", hint="retry")
    effects.jobs.add(job_id)


def settle_run(conn: sa.Connection, run_id: str, effects: Effects) -> None:
    """Queue pending jobs whose needs all succeeded, skip those with a need that did not, then
    derive the run's status. Repeats until nothing changes, so skips cascade."""
    run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()
    awaiting = bool(run.requires_approval) and run.approved_by is None
    rows = conn.execute(
        sa.select(jobs.c.id, jobs.c.name, jobs.c.status, jobs.c.needs, jobs.c.pool).where(
            jobs.c.run_id == run_id
        )
    ).all()
    status = {r.name: r.status for r in rows}
    changed = True
    while changed:
        changed = False
        for row in rows:
            if status[row.name] != JobStatus.PENDING:
                continue
            needs: list[str] = json.loads(row.needs)
            bad = [n for n in needs if status[n] in FINAL_JOB and status[n] != JobStatus.SUCCESS]
            if bad:
                detail = ", ".join(f"needs {n} which ended {status[n]}" for n in bad)
                move_job(conn, row.id, status[row.name], JobStatus.SKIPPED, effects, detail=detail)
                status[row.name] = JobStatus.SKIPPED
                changed = True
            elif not awaiting and all(status[n] == JobStatus.SUCCESS for n in needs):
                move_job(conn, row.id, status[row.name], JobStatus.QUEUED, effects)
                status[row.name] = JobStatus.QUEUED
                effects.pools.add(row.pool)
                changed = True
    new_status = derive_run_status(
        list(status.values()),
        awaiting_approval=awaiting,
        cancel_requested=bool(run.cancel_requested),
    )
    if new_status != run.status:
        values: dict[str, Any] = {"status": new_status.value}
        if new_status in FINAL_RUN:
            values["finished_at"] = time.time()
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(**values))
    effects.runs.add(run_id)


def run_is_final(status: str) -> bool:
    return RunStatus(status) in FINAL_RUN
