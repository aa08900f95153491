"""Job log lines: stored exactly once per (job, attempt, seq), read back by cursor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from stockade.store.database import Database
from stockade.store.dispatch import active_lease, mark_running, record_step
from stockade.store.holds import hold_log
from stockade.store.ids import JobId
from stockade.store.records import Effects, LogLineRecord
from stockade.store.schema import jobs, log_lines


@dataclass(frozen=True)
class Chunk:
    seq: int
    step: int
    stream: str
    ts: float
    text: str


@dataclass(frozen=True)
class Step:
    """A step report that travels with a log batch."""

    index: int
    name: str
    status: str
    exit_code: int | None = None
    duration_s: float | None = None


def append_logs(
    db: Database,
    lease_id: str,
    agent_id: str,
    pool: str,
    chunks: Sequence[Chunk],
    *,
    reports: Sequence[Step] = (),
    hold: bool = False,
) -> tuple[int, int, Effects]:
    """Store the chunks of a live lease, ignoring seqs already stored (a resend never duplicates),
    then record ``reports`` in the same transaction if every chunk up to the batch's last is
    stored (a step is never reported ahead of its own output).

    With ``hold`` (the agent found a secret surviving masking) the job's log is held for an
    admin, in the same transaction as the chunks that carry the leak.

    Returns the highest contiguous seq stored for this attempt (-1 when none) and how many
    reports were recorded (all or none).
    """
    effects = Effects()
    with db.write() as conn:
        row = active_lease(conn, lease_id, agent_id, pool)
        mark_running(conn, row, effects)
        if hold and hold_log(conn, row, agent_id):
            effects.jobs.add(row.id)
            effects.runs.add(row.run_id)
        wanted = {c.seq: c for c in chunks}  # a seq repeated within one batch counts once
        if wanted:
            present = set(
                conn.execute(
                    sa.select(log_lines.c.seq).where(
                        log_lines.c.job_id == row.id,
                        log_lines.c.attempt == row.attempt,
                        log_lines.c.seq.in_(list(wanted)),
                    )
                ).scalars()
            )
            fresh = [
                {
                    "job_id": row.id,
                    "attempt": row.attempt,
                    "seq": c.seq,
                    "step": c.step,
                    "stream": c.stream,
                    "ts": c.ts,
                    "text": c.text,
                }
                for seq, c in sorted(wanted.items())
                if seq not in present
            ]
            if fresh:
                conn.execute(sa.insert(log_lines), fresh)
                effects.jobs.add(row.id)
                effects.runs.add(row.run_id)
        acked = _acked_seq(conn, row.id, row.attempt)
        recorded = 0
        if reports and acked >= max(wanted, default=-1):
            for r in reports:
                record_step(
                    conn, row, index=r.index, name=r.name, status=r.status,
                    exit_code=r.exit_code, duration_s=r.duration_s,
                )
            recorded = len(reports)
            effects.jobs.add(row.id)
        return acked, recorded, effects


def _acked_seq(conn: sa.Connection, job_id: str, attempt: int) -> int:
    mine = (log_lines.c.job_id == job_id, log_lines.c.attempt == attempt)
    count, top = conn.execute(
        sa.select(sa.func.count(), sa.func.max(log_lines.c.seq)).where(*mine)
    ).one()
    if not count:
        return -1
    if int(count) == int(top) + 1:
        return int(top)  # no gaps: the common case, answered from the index alone
    has_zero = conn.execute(sa.select(log_lines.c.seq).where(*mine, log_lines.c.seq == 0)).first()
    if has_zero is None:
        return -1
    nxt = log_lines.alias("nxt")
    gap = conn.execute(
        sa.select(sa.func.min(log_lines.c.seq)).where(
            *mine,
            ~sa.exists().where(
                nxt.c.job_id == log_lines.c.job_id,
                nxt.c.attempt == log_lines.c.attempt,
                nxt.c.seq == log_lines.c.seq + 1,
            ),
        )
    ).scalar_one()
    return int(gap)


def _record(r: sa.Row[tuple[object, ...]]) -> LogLineRecord:
    m = r._mapping
    return LogLineRecord(
        cursor=int(m["cursor"]),  # type: ignore[call-overload]
        job_id=JobId(str(m["job_id"])),
        attempt=int(m["attempt"]),  # type: ignore[call-overload]
        seq=int(m["seq"]),  # type: ignore[call-overload]
        step=int(m["step"]),  # type: ignore[call-overload]
        stream=str(m["stream"]),
        ts=float(m["ts"]),  # type: ignore[arg-type]
        text=str(m["text"]),
    )


def read_job_logs(
    db: Database, job_id: str, after: int = -1, limit: int = 5000
) -> list[LogLineRecord]:
    """Lines of one job (every attempt) with cursor > ``after``, oldest first."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(log_lines)
            .where(log_lines.c.job_id == job_id, log_lines.c.cursor > after)
            .order_by(log_lines.c.cursor)
            .limit(limit)
        ).all()
    return [_record(r) for r in rows]


def read_run_logs(
    db: Database, run_id: str, after: int = -1, limit: int = 5000, *, by_job: bool = False
) -> list[LogLineRecord]:
    """Lines of every job of a run with cursor > ``after``: in arrival order, or grouped in the
    pipeline's job order when ``by_job``."""
    order = (jobs.c.position, log_lines.c.cursor) if by_job else (log_lines.c.cursor,)
    with db.read() as conn:
        rows = conn.execute(
            sa.select(log_lines)
            .join(jobs, jobs.c.id == log_lines.c.job_id)
            .where(jobs.c.run_id == run_id, log_lines.c.cursor > after)
            .order_by(*order)
            .limit(limit)
        ).all()
    return [_record(r) for r in rows]
