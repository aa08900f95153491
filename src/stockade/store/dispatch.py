"""The queue: claim a job for an agent, keep its lease, finish it, and reap dead leases.

A claim is a compare-and-set (``UPDATE ... WHERE status = 'queued'``), safe with several servers
on one database. On PostgreSQL the candidate row is picked ``FOR UPDATE SKIP LOCKED`` so
concurrent servers do not even contend for it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from stockade.errors import Conflict, Forbidden
from stockade.store.database import Database
from stockade.store.egress import insert_events
from stockade.store.ids import new_id
from stockade.store.records import Effects, EgressEventRecord, JobRecord
from stockade.store.runs import job_record
from stockade.store.schema import agents, jobs, log_lines, runs, steps
from stockade.store.states import ACTIVE_JOB, FINAL_JOB, JobStatus
from stockade.store.transitions import move_job, settle_run


class LeaseLost(Conflict):
    """The lease expired or was taken away: the agent must stop working on the job."""

    code = "lease_lost"


class LogsIncomplete(Conflict):
    code = "logs_incomplete"


@dataclass(frozen=True)
class Claimed:
    job: JobRecord
    run_repository: str
    run_sha: str


@dataclass(frozen=True)
class RetryPolicy:
    """How the queue treats infrastructure failures and dead agents."""

    lease_ttl_s: float
    max_infra_retries: int
    timeout_grace_s: float


def claim_job(db: Database, pool: str, agent_id: str, lease_ttl_s: float) -> Claimed | None:
    """Lease the next queued job of ``pool`` (priority, then age) to ``agent_id``, if any.

    Either way the agent is recorded as heard from, in the same transaction (a long-poll is how
    an idle agent shows it is alive; one write per poll instead of two).
    """
    effects = Effects()
    for _ in range(5):  # another server may win the compare-and-set; take the next one then
        with db.write() as conn:
            now = time.time()
            conn.execute(
                sa.update(agents)
                .where(agents.c.id == agent_id, agents.c.state != "revoked")
                .values(last_seen=now, state="online")
            )
            query = (
                sa.select(jobs.c.id)
                .where(jobs.c.pool == pool, jobs.c.status == JobStatus.QUEUED.value)
                .order_by(jobs.c.priority.desc(), jobs.c.queued_at, jobs.c.id)
                .limit(1)
            )
            if db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            job_id = conn.execute(query).scalar()
            if job_id is None:
                return None
            try:
                move_job(
                    conn,
                    job_id,
                    JobStatus.QUEUED,
                    JobStatus.LEASED,
                    effects,
                    lease_id=new_id("lse"),
                    lease_expires_at=now + lease_ttl_s,
                    agent_id=agent_id,
                    leased_at=now,
                )
            except Conflict:
                continue
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()
            run = conn.execute(
                sa.select(runs.c.repository, runs.c.sha).where(runs.c.id == row.run_id)
            ).one()
            settle_run(conn, row.run_id, effects)
            return Claimed(job_record(row), run.repository, run.sha)
    return None


def _lease_row(conn: sa.Connection, lease_id: str, agent_id: str, pool: str) -> Any:
    row = conn.execute(sa.select(jobs).where(jobs.c.lease_id == lease_id)).first()
    if row is None:
        raise LeaseLost(
            f"lease {lease_id} is not held any more",
            hint="stop the job; it was requeued or finished elsewhere",
        )
    if row.pool != pool or row.agent_id != agent_id:
        raise Forbidden(f"lease {lease_id} belongs to another agent", code="lease_forbidden")
    return row


def active_lease(conn: sa.Connection, lease_id: str, agent_id: str, pool: str) -> Any:
    row = _lease_row(conn, lease_id, agent_id, pool)
    if row.status not in ACTIVE_JOB or (row.lease_expires_at or 0) < time.time():
        raise LeaseLost(f"lease {lease_id} expired or ended", hint="stop the job")
    return row


def heartbeat(
    db: Database, lease_id: str, agent_id: str, pool: str, lease_ttl_s: float
) -> tuple[float, bool]:
    """Extend a live lease; returns (new expiry, whether cancellation was requested)."""
    with db.write() as conn:
        row = active_lease(conn, lease_id, agent_id, pool)
        now = time.time()
        expires = now + lease_ttl_s
        conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == row.id, jobs.c.lease_id == lease_id)
            .values(lease_expires_at=expires)
        )
        conn.execute(
            sa.update(agents).where(agents.c.id == agent_id).values(last_seen=now, state="online")
        )
        return expires, bool(row.cancel_requested)


def mark_running(conn: sa.Connection, row: Any, effects: Effects) -> None:
    """The first sign of work (a step or a log line) moves a leased job to running."""
    if row.status == JobStatus.LEASED:
        move_job(conn, row.id, row.status, JobStatus.RUNNING, effects, started_at=time.time())
        settle_run(conn, row.run_id, effects)


def report_step(
    db: Database,
    lease_id: str,
    agent_id: str,
    pool: str,
    *,
    index: int,
    name: str,
    status: str,
    exit_code: int | None,
    duration_s: float | None,
) -> Effects:
    """Record a step's status for the lease's attempt (insert or update)."""
    effects = Effects()
    with db.write() as conn:
        row = active_lease(conn, lease_id, agent_id, pool)
        mark_running(conn, row, effects)
        record_step(
            conn, row, index=index, name=name, status=status, exit_code=exit_code,
            duration_s=duration_s,
        )
        effects.jobs.add(row.id)
    return effects


def record_step(
    conn: sa.Connection,
    row: Any,
    *,
    index: int,
    name: str,
    status: str,
    exit_code: int | None,
    duration_s: float | None,
) -> None:
    """Upsert one step of the lease's attempt (``row`` is its job); a resend changes nothing."""
    key = (steps.c.job_id == row.id, steps.c.attempt == row.attempt, steps.c.idx == index)
    values = {
        "name": name,
        "status": status,
        "exit_code": exit_code,
        "duration_s": duration_s,
        "updated_at": time.time(),
    }
    updated = conn.execute(sa.update(steps).where(*key).values(**values))
    if updated.rowcount == 0:
        conn.execute(
            sa.insert(steps).values(job_id=row.id, attempt=row.attempt, idx=index, **values)
        )


def _requeue_or_fail(
    conn: sa.Connection,
    row: Any,
    policy: RetryPolicy,
    effects: Effects,
    *,
    why: str,
    final: JobStatus,
    counted: bool = True,
) -> None:
    """Hand a job that lost its agent back to the queue (a counted infrastructure retry), or
    end it as ``final`` once the retries are used up. Cancelled jobs are not retried."""
    common: dict[str, Any] = {"lease_id": None, "lease_expires_at": None, "agent_id": None}
    if row.cancel_requested:
        move_job(
            conn, row.id, row.status, JobStatus.CANCELLED, effects, detail=f"cancelled ({why})"
        )
    elif counted and row.infra_retries >= policy.max_infra_retries:
        detail = f"{why}; {row.infra_retries} infrastructure retries used, giving up"
        move_job(
            conn, row.id, row.status, final, effects, detail=detail, outcome=final.value, **common
        )
    else:
        retries = row.infra_retries + (1 if counted else 0)
        detail = f"{why}; requeued (infrastructure retry {retries}/{policy.max_infra_retries})"
        if not counted:
            detail = f"{why}; requeued"
        move_job(
            conn,
            row.id,
            row.status,
            JobStatus.QUEUED,
            effects,
            attempt=row.attempt + 1,
            infra_retries=retries,
            detail=detail,
            started_at=None,
            leased_at=None,
            **common,
        )
        effects.pools.add(row.pool)
    settle_run(conn, row.run_id, effects)


def stored_through(conn: sa.Connection, job_id: str, attempt: int, last_seq: int) -> bool:
    """Whether every log chunk 0..last_seq of this attempt is stored."""
    if last_seq < 0:
        return True
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(log_lines)
        .where(
            log_lines.c.job_id == job_id,
            log_lines.c.attempt == attempt,
            log_lines.c.seq <= last_seq,
        )
    ).scalar_one()
    return int(count) == last_seq + 1


def complete(
    db: Database,
    lease_id: str,
    agent_id: str,
    pool: str,
    *,
    outcome: str,
    detail: str,
    last_seq: int,
    policy: RetryPolicy,
    egress: Sequence[EgressEventRecord] = (),
) -> Effects:
    """Finish a lease with the agent's outcome and the job's egress events, in one transaction.
    Idempotent for a repeated identical call (the events are stored once)."""
    effects = Effects()
    with db.write() as conn:
        row = _lease_row(conn, lease_id, agent_id, pool)
        if row.status in FINAL_JOB and row.outcome == outcome:
            return effects  # a resend of a completion that already landed
        row = _still_active(row, lease_id)
        if not stored_through(conn, row.id, row.attempt, last_seq):
            raise LogsIncomplete(
                f"job {row.id} attempt {row.attempt} lacks log chunks up to seq {last_seq}",
                hint="resend the unacknowledged log chunks, then complete again",
            )
        insert_events(conn, [dataclasses.replace(e, job_id=row.id, attempt=row.attempt,
                                                 run_id=row.run_id) for e in egress])
        status = JobStatus(outcome)
        if status == JobStatus.INFRA:
            _requeue_or_fail(
                conn, row, policy, effects, why=f"agent {agent_id} reported: {detail}", final=status
            )
        else:
            move_job(conn, row.id, row.status, status, effects, outcome=outcome, detail=detail)
            settle_run(conn, row.run_id, effects)
        conn.execute(
            sa.update(agents)
            .where(agents.c.id == agent_id)
            .values(last_seen=time.time(), state="online")
        )
    return effects


def _still_active(row: Any, lease_id: str) -> Any:
    # A completion that arrives after the expiry but before the reaper ran is still the truth
    # about the job; accept it rather than run the job again.
    if row.status not in ACTIVE_JOB:
        raise LeaseLost(f"lease {lease_id} ended ({row.status})", hint="stop the job")
    return row


def release(
    db: Database, lease_id: str, agent_id: str, pool: str, *, reason: str, policy: RetryPolicy
) -> Effects:
    """The agent hands the job back (draining): requeue it without counting a failure."""
    effects = Effects()
    with db.write() as conn:
        row = active_lease(conn, lease_id, agent_id, pool)
        _requeue_or_fail(
            conn,
            row,
            policy,
            effects,
            why=f"agent {agent_id} released it: {reason}",
            final=JobStatus.LOST,
            counted=False,
        )
    return effects


def reap(db: Database, policy: RetryPolicy) -> Effects:
    """Requeue jobs whose lease expired, and end jobs that overran their timeout + grace."""
    effects = Effects()
    now = time.time()
    with db.write() as conn:
        expired = conn.execute(
            sa.select(jobs).where(
                jobs.c.status.in_([s.value for s in ACTIVE_JOB]), jobs.c.lease_expires_at < now
            )
        ).all()
        for row in expired:
            why = f"lease {row.lease_id} of agent {row.agent_id} expired"
            _requeue_or_fail(conn, row, policy, effects, why=why, final=JobStatus.LOST)
        overran = conn.execute(
            sa.select(jobs).where(
                jobs.c.status.in_([s.value for s in ACTIVE_JOB]),
                jobs.c.leased_at + jobs.c.timeout_s + policy.timeout_grace_s < now,
            )
        ).all()
        for row in overran:
            detail = f"job ran past its timeout of {row.timeout_s:g}s (stopped by the server)"
            move_job(
                conn,
                row.id,
                row.status,
                JobStatus.TIMEOUT,
                effects,
                outcome="timeout",
                detail=detail,
            )
            settle_run(conn, row.run_id, effects)
        conn.execute(
            sa.update(agents)
            .where(agents.c.state == "online", agents.c.last_seen < now - 3 * policy.lease_ttl_s)
            .values(state="offline")
        )
    return effects


def grace_active_leases(db: Database, lease_ttl_s: float) -> int:
    """At server start: give every live lease a full TTL, since the agents could not heartbeat
    while the server was down. Returns how many leases were extended."""
    with db.write() as conn:
        result = conn.execute(
            sa.update(jobs)
            .where(jobs.c.status.in_([s.value for s in ACTIVE_JOB]))
            .values(lease_expires_at=time.time() + lease_ttl_s)
        )
    return int(result.rowcount)
