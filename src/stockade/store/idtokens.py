"""What the issuer needs to know about a lease's job, and the audit of every token decision."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from stockade.errors import Forbidden
from stockade.store.database import Database
from stockade.store.dispatch import LeaseLost, active_lease
from stockade.store.schema import id_token_events, runs


@dataclass(frozen=True)
class TokenJob:
    """One live attempt of a job, with its run: the facts its token's claims come from."""

    job_id: str
    attempt: int
    name: str
    tier: str
    pool: str
    payload: str  # JSON of api.agent.JobPayload
    agent_id: str
    run_id: str
    repository: str  # what the agent clones (URL or path)
    ref: str
    sha: str
    event: str
    policy_hash: str


def token_job(db: Database, lease_id: str, agent_id: str, pool: str) -> TokenJob:
    """The live job of the caller's own lease; :class:`LeaseLost` when the lease is over or
    not the caller's (a token is never minted for someone else's job)."""
    with db.read() as conn:
        try:
            row = active_lease(conn, lease_id, agent_id, pool)
        except Forbidden as exc:
            raise LeaseLost(f"lease {lease_id} is not held by this agent",
                            hint="stop the job") from exc
        run = conn.execute(sa.select(runs).where(runs.c.id == row.run_id)).one()
    return TokenJob(
        job_id=row.id, attempt=row.attempt, name=row.name, tier=row.tier, pool=row.pool,
        payload=row.payload, agent_id=agent_id, run_id=row.run_id, repository=run.repository,
        ref=run.ref, sha=run.sha, event=run.event, policy_hash=run.policy_hash,
    )


def record_token_event(
    db: Database, job: TokenJob, *, audience: str, decision: str, reason: str, policy_hash: str,
    jti: str | None = None, kid: str | None = None, expires_at: float | None = None,
) -> None:
    """Audit one issuance (``issued``) or refusal (``refused``); never the token itself."""
    with db.write() as conn:
        conn.execute(sa.insert(id_token_events).values(
            ts=time.time(), job_id=job.job_id, attempt=job.attempt, run_id=job.run_id,
            agent_id=job.agent_id, audience=audience, decision=decision, reason=reason,
            policy_hash=policy_hash, jti=jti, kid=kid, expires_at=expires_at,
        ))


def token_events(db: Database, job_id: str) -> list[dict[str, object]]:
    """The audit rows of one job's tokens, oldest first (for tests and the operator)."""
    with db.read() as conn:
        rows = conn.execute(sa.select(id_token_events)
                            .where(id_token_events.c.job_id == job_id)
                            .order_by(id_token_events.c.cursor)).all()
    return [dict(r._mapping) for r in rows]
