"""Runs and their jobs: create a planned run, read runs back, cancel and approve them."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from stockade.errors import Conflict, Forbidden, NotFound
from stockade.store.database import Database
from stockade.store.ids import AgentId, JobId, LeaseId, RunId, new_id
from stockade.store.records import Effects, JobRecord, PlannedRun, RunRecord, StepRecord
from stockade.store.schema import jobs, runs, steps, webhook_deliveries
from stockade.store.states import ACTIVE_JOB, JobStatus, RunStatus
from stockade.store.transitions import move_job, settle_run


class ReplayedDelivery(Conflict):
    code = "replayed_delivery"


def create_run(db: Database, plan: PlannedRun) -> tuple[RunId, Effects]:
    """Store a planned run and its jobs in one transaction; queue the jobs that can start.

    With ``plan.delivery_id`` the webhook delivery is recorded in the same transaction, so a
    replayed delivery stores nothing (it raises :class:`ReplayedDelivery`).
    """
    run_id = RunId(new_id("run"))
    now = time.time()
    effects = Effects()
    try:
        with db.write() as conn:
            if plan.delivery_id is not None:
                conn.execute(
                    sa.insert(webhook_deliveries).values(
                        delivery_id=plan.delivery_id,
                        event=plan.delivery_event,
                        run_id=run_id,
                        received_at=now,
                    )
                )
            conn.execute(
                sa.insert(runs).values(
                    id=run_id,
                    status=RunStatus.QUEUED.value,
                    repository=plan.repository,
                    ref=plan.ref,
                    sha=plan.sha,
                    event=plan.event,
                    actor=plan.actor,
                    fork=plan.fork,
                    author_association=plan.author_association,
                    tier=plan.tier,
                    pool=plan.pool,
                    rule=plan.rule,
                    policy_hash=plan.policy_hash,
                    reason=plan.reason,
                    requires_approval=plan.requires_approval,
                    cancel_requested=False,
                    priority=plan.priority,
                    pipeline=plan.pipeline,
                    delivery_id=plan.delivery_id,
                    created_at=now,
                )
            )
            for job in plan.jobs:
                conn.execute(
                    sa.insert(jobs).values(
                        id=new_id("job"),
                        run_id=run_id,
                        position=job.position,
                        name=job.name,
                        status=(JobStatus.DENIED if job.denied else JobStatus.PENDING).value,
                        attempt=1,
                        infra_retries=0,
                        priority=plan.priority,
                        tier=job.tier,
                        pool=job.pool,
                        needs=json.dumps(list(job.needs)),
                        payload=job.payload,
                        timeout_s=job.timeout_s,
                        detail=job.denied or "",
                        cancel_requested=False,
                        created_at=now,
                        finished_at=now if job.denied else None,
                    )
                )
            settle_run(conn, run_id, effects)
    except IntegrityError as exc:
        if plan.delivery_id is not None and _delivery_seen(db, plan.delivery_id):
            raise ReplayedDelivery(
                f"delivery {plan.delivery_id} was already received",
                hint="each X-GitHub-Delivery id is accepted once; redeliver as a new delivery",
            ) from exc
        raise
    return run_id, effects


def _delivery_seen(db: Database, delivery_id: str) -> bool:
    with db.read() as conn:
        found = conn.execute(
            sa.select(webhook_deliveries.c.delivery_id).where(
                webhook_deliveries.c.delivery_id == delivery_id
            )
        ).first()
    return found is not None


def delivery_seen(db: Database, delivery_id: str) -> bool:
    """Whether a webhook delivery id was already accepted."""
    return _delivery_seen(db, delivery_id)


def job_record(row: Any, step_rows: list[Any] | None = None) -> JobRecord:
    return JobRecord(
        id=JobId(row.id),
        run_id=RunId(row.run_id),
        position=row.position,
        name=row.name,
        status=row.status,
        attempt=row.attempt,
        infra_retries=row.infra_retries,
        tier=row.tier,
        pool=row.pool,
        needs=tuple(json.loads(row.needs)),
        payload=row.payload,
        timeout_s=row.timeout_s,
        outcome=row.outcome,
        detail=row.detail,
        lease_id=LeaseId(row.lease_id) if row.lease_id else None,
        lease_expires_at=row.lease_expires_at,
        agent_id=AgentId(row.agent_id) if row.agent_id else None,
        cancel_requested=bool(row.cancel_requested),
        created_at=row.created_at,
        queued_at=row.queued_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        steps=tuple(
            StepRecord(s.idx, s.name, s.status, s.exit_code, s.duration_s)
            for s in (step_rows or [])
        ),
        log_held=bool(getattr(row, "log_held", False)),
    )


def _jobs_of(conn: sa.Connection, run_ids: list[str]) -> dict[str, list[JobRecord]]:
    if not run_ids:
        return {}
    job_rows = conn.execute(
        sa.select(jobs).where(jobs.c.run_id.in_(run_ids)).order_by(jobs.c.position)
    ).all()
    step_rows = conn.execute(
        sa.select(steps)
        .join(jobs, jobs.c.id == steps.c.job_id)
        .where(jobs.c.run_id.in_(run_ids), steps.c.attempt == jobs.c.attempt)
        .order_by(steps.c.idx)
    ).all()
    by_job: dict[str, list[Any]] = {}
    for s in step_rows:
        by_job.setdefault(s.job_id, []).append(s)
    out: dict[str, list[JobRecord]] = {}
    for row in job_rows:
        out.setdefault(row.run_id, []).append(job_record(row, by_job.get(row.id)))
    return out


def _run_record(row: Any, job_list: list[JobRecord]) -> RunRecord:
    return RunRecord(
        id=RunId(row.id),
        status=row.status,
        repository=row.repository,
        ref=row.ref,
        sha=row.sha,
        event=row.event,
        actor=row.actor,
        fork=bool(row.fork),
        author_association=row.author_association,
        tier=row.tier,
        pool=row.pool,
        rule=row.rule,
        policy_hash=row.policy_hash,
        reason=row.reason,
        requires_approval=bool(row.requires_approval),
        approved_by=row.approved_by,
        cancel_requested=bool(row.cancel_requested),
        priority=row.priority,
        created_at=row.created_at,
        finished_at=row.finished_at,
        jobs=tuple(job_list),
    )


def get_run(db: Database, run_id: str) -> RunRecord:
    """One run with its jobs and their current attempt's steps; NotFound if absent."""
    with db.read() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"no run {run_id}", hint="list runs with GET /api/v1/runs")
        return _run_record(row, _jobs_of(conn, [run_id]).get(run_id, []))


def list_runs(db: Database, limit: int = 50) -> list[RunRecord]:
    """The newest runs first."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(runs).order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
        ).all()
        by_run = _jobs_of(conn, [r.id for r in rows])
    return [_run_record(r, by_run.get(r.id, [])) for r in rows]


def count_runs(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one())


def get_job(db: Database, job_id: str) -> JobRecord:
    """One job with its current attempt's steps; NotFound if absent."""
    with db.read() as conn:
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"no job {job_id}", hint="find job ids in GET /api/v1/runs/{run_id}")
        step_rows = conn.execute(
            sa.select(steps)
            .where(steps.c.job_id == job_id, steps.c.attempt == row.attempt)
            .order_by(steps.c.idx)
        ).all()
        return job_record(row, list(step_rows))


def cancel_run(db: Database, run_id: str) -> Effects:
    """Cancel a run: waiting jobs are cancelled now, running ones are asked to stop."""
    effects = Effects()
    with db.write() as conn:
        run = conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first()
        if run is None:
            raise NotFound(f"no run {run_id}")
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(cancel_requested=True))
        for row in conn.execute(sa.select(jobs).where(jobs.c.run_id == run_id)).all():
            if row.status in (JobStatus.PENDING, JobStatus.QUEUED):
                move_job(conn, row.id, row.status, JobStatus.CANCELLED, effects, detail="cancelled")
            elif row.status in ACTIVE_JOB and not row.cancel_requested:
                # The agent learns it from its next heartbeat and completes as cancelled.
                conn.execute(
                    sa.update(jobs).where(jobs.c.id == row.id).values(cancel_requested=True)
                )
                effects.jobs.add(row.id)
        settle_run(conn, run_id, effects)
    return effects


def approve_run(db: Database, run_id: str, approver: str) -> Effects:
    """Approve a run waiting for approval; the approver must not be the run's actor."""
    effects = Effects()
    with db.write() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        if run is None:
            raise NotFound(f"no run {run_id}")
        if run.status != RunStatus.AWAITING_APPROVAL:
            raise Conflict(
                f"run {run_id} is {run.status}, not awaiting approval", code="not_awaiting_approval"
            )
        if approver == run.actor:
            raise Forbidden(
                f"{approver} started run {run_id} and cannot approve it",
                hint="approval must come from someone other than the author",
                code="self_approval",
            )
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(approved_by=approver))
        settle_run(conn, run_id, effects)
    return effects
