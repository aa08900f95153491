"""Egress events: stored with the job's completion, read back per run."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from stockade.store.database import Database
from stockade.store.records import EgressEventRecord
from stockade.store.schema import egress_events, jobs

#: At most this many events are kept per job attempt; the agent sends no more.
MAX_EVENTS_PER_JOB = 5000


def insert_events(conn: sa.Connection, events: Sequence[EgressEventRecord]) -> None:
    """Store ``events`` in the caller's transaction (the job's completion)."""
    if events:
        conn.execute(sa.insert(egress_events),
                     [dataclasses.asdict(e) for e in events[:MAX_EVENTS_PER_JOB]])


def _record(row: Any) -> EgressEventRecord:
    return EgressEventRecord(
        job_id=row.job_id, attempt=row.attempt, run_id=row.run_id, ts=row.ts, kind=row.kind,
        host=row.host, port=row.port, ip=row.ip, decision=row.decision,
        would_deny=bool(row.would_deny), reason=row.reason, detail=row.detail, rule=row.rule,
        bytes_up=row.bytes_up, bytes_down=row.bytes_down, duration_s=row.duration_s,
    )


def read_run_egress(db: Database, run_id: str) -> list[tuple[str, EgressEventRecord]]:
    """Every egress event of a run as (job name, event), in the order they happened."""
    query = (
        sa.select(jobs.c.name, egress_events)
        .join(jobs, jobs.c.id == egress_events.c.job_id)
        .where(egress_events.c.run_id == run_id)
        .order_by(egress_events.c.ts, egress_events.c.cursor)
    )
    with db.read() as conn:
        return [(row.name, _record(row)) for row in conn.execute(query)]
