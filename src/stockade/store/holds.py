"""Held logs (fail-closed masking): a job whose output leaked a secret is readable by admins
only until one of them releases it. Every hold and release is recorded."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from stockade.errors import Conflict, NotFound
from stockade.store.database import Database
from stockade.store.schema import jobs, log_hold_events


def hold_log(conn: sa.Connection, row: Any, actor: str) -> bool:
    """Hold the log of ``row``'s job in the caller's transaction; True when newly held."""
    if row.log_held:
        return False
    conn.execute(sa.update(jobs).where(jobs.c.id == row.id).values(log_held=True))
    conn.execute(sa.insert(log_hold_events).values(
        ts=time.time(), job_id=row.id, attempt=row.attempt, action="hold", actor=actor[:128]))
    return True


def release_log(db: Database, job_id: str, actor: str) -> None:
    """An admin reviewed the log: anyone with read access may see it again."""
    with db.write() as conn:
        row = conn.execute(sa.select(jobs.c.id, jobs.c.attempt, jobs.c.log_held)
                           .where(jobs.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"no job {job_id}")
        if not row.log_held:
            raise Conflict(f"the log of job {job_id} is not held", code="log_not_held")
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(log_held=False))
        conn.execute(sa.insert(log_hold_events).values(
            ts=time.time(), job_id=job_id, attempt=row.attempt, action="release",
            actor=actor[:128]))


def job_log_held(db: Database, job_id: str) -> bool:
    with db.read() as conn:
        return bool(conn.execute(sa.select(jobs.c.log_held).where(jobs.c.id == job_id))
                    .scalar())


def run_log_held(db: Database, run_id: str) -> bool:
    """Whether any job of the run has its log held."""
    with db.read() as conn:
        found = conn.execute(sa.select(jobs.c.id).where(
            jobs.c.run_id == run_id, jobs.c.log_held == sa.true()).limit(1)).first()
    return found is not None


def hold_events(db: Database, job_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(log_hold_events).where(log_hold_events.c.job_id == job_id)
                            .order_by(log_hold_events.c.cursor)).all()
    return [dict(r._mapping) for r in rows]
