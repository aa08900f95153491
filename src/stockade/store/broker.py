"""The secrets broker's transaction: check the token's job, decide each name, lease, audit.

Everything a request decides is audited, name by name, in the same transaction, including a
request refused as a whole (job ended, token revoked, a step or name the job never declared).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from stockade.errors import NotFound, PolicyDenied, StockadeError, Unauthorized
from stockade.identity.revocation import Revocation, describe, revoked_by
from stockade.policy.values import Policy
from stockade.secrets.crypto import MasterKey
from stockade.secrets.grants import GrantRequest, decide_grant
from stockade.store.database import Database
from stockade.store.ids import new_id
from stockade.store.revocations import list_revocations
from stockade.store.schema import jobs, runs, secret_events, secret_leases
from stockade.store.schema import secrets as secrets_table
from stockade.store.secrets import secret_classes, secret_values
from stockade.store.states import ACTIVE_JOB

MIN_LEASE_S = 1.0


class TokenRevoked(Unauthorized):
    """The token verified, but it is revoked (explicitly, or because its job attempt ended)."""

    code = "token_revoked"


@dataclass(frozen=True)
class BrokerLease:
    lease_id: str
    expires_at: float
    job_id: str
    attempt: int
    values: dict[str, str] = field(repr=False)
    refused: dict[str, str]


@dataclass
class _Audit:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, base: dict[str, Any], name: str, cls: str | None, decision: str,
            reason: str) -> None:
        self.rows.append({**base, "name": name[:128], "class": cls, "decision": decision,
                          "reason": reason})


def _attempt(claims: Mapping[str, Any]) -> int:
    try:
        return int(claims.get("run_attempt", 0))
    except (TypeError, ValueError):
        return 0


def _whole_refusal(
    conn: sa.Connection, claims: Mapping[str, Any], step: int, revs: Sequence[Revocation]
) -> tuple[Any, Any, StockadeError | None]:
    """The job and run rows, and why the request is refused as a whole (None: it is not)."""
    job = conn.execute(sa.select(jobs).where(jobs.c.id == str(claims.get("job_id")))).first()
    if job is None:
        return None, None, TokenRevoked("the token's job does not exist", hint="")
    run = conn.execute(sa.select(runs).where(runs.c.id == job.run_id)).one()
    rev = revoked_by(revs, claims)
    if rev is not None:
        return job, run, TokenRevoked(f"the token is revoked ({describe(rev)})",
                                      hint="an admin revoked it; the job gets no secrets")
    if (job.status not in ACTIVE_JOB or job.attempt != _attempt(claims)
            or job.run_id != claims.get("run_id") or job.agent_id != claims.get("runner_id")):
        return job, run, TokenRevoked(
            "the token's job attempt is no longer running",
            hint="a token dies with its job attempt; a replay after the job ended is refused")
    return job, run, None


def _declared(job: Any, step: int) -> list[str] | None:
    steps = json.loads(job.payload).get("steps", [])
    if not 0 <= step < len(steps):
        return None
    return list(steps[step].get("secrets", []))


def lease_secrets(
    db: Database,
    master: MasterKey,
    policy: Policy,
    claims: Mapping[str, Any],
    *,
    step: int,
    names: Sequence[str],
    repository_name: Callable[[str], str],
    now: float | None = None,
) -> BrokerLease:
    """Grant or refuse each of ``names`` for ``step`` of the token's job (see module doc)."""
    now = time.time() if now is None else now
    audit = _Audit()
    revs = list_revocations(db)
    error: StockadeError | None = None
    result: BrokerLease | None = None
    with db.write() as conn:
        job, run, error = _whole_refusal(conn, claims, step, revs)
        base = {"ts": now, "job_id": str(claims.get("job_id"))[:40],
                "attempt": _attempt(claims), "run_id": str(claims.get("run_id"))[:40],
                "step": step, "lease_id": None}
        declared = _declared(job, step) if job is not None else None
        if error is None and declared is None:
            error = PolicyDenied(f"the job has no step {step}",
                                 hint="ask for the secrets of one of the job's own steps")
        undeclared = sorted(set(names) - set(declared or ()))
        if error is None and undeclared:
            error = PolicyDenied(
                f"step {step} did not declare {', '.join(undeclared)}",
                hint="a step gets only the secrets its `secrets:` list names")
        if error is not None:
            for name in names:
                audit.add(base, name, None, "refused", error.message)
        else:
            result = _decide(conn, master=master, policy=policy, job=job, run=run, base=base,
                             audit=audit, step=step,
                             names=names, repository_name=repository_name, now=now,
                             jti=str(claims.get("jti", ""))[:64])
        if audit.rows:
            conn.execute(sa.insert(secret_events), audit.rows)
    if error is not None:
        raise error
    assert result is not None
    return result


def _decide(
    conn: sa.Connection, *, master: MasterKey, policy: Policy, job: Any, run: Any,
    base: dict[str, Any], audit: _Audit, step: int, names: Sequence[str],
    repository_name: Callable[[str], str], now: float, jti: str,
) -> BrokerLease:
    payload = json.loads(job.payload)
    tier = policy.tiers.get(job.tier)
    classes = secret_classes(conn, names)
    lease_id = new_id("sls")
    base = {**base, "lease_id": lease_id}
    granted: list[str] = []
    refused: dict[str, str] = {}
    for name in dict.fromkeys(names):  # each name once, in the order asked
        cls = classes.get(name)
        if cls is None:
            refused[name] = "no such secret"
        elif tier is None:
            refused[name] = f"tier {job.tier} is not in the current policy"
        else:
            decision = decide_grant(policy.secret_grants, tier.secret_classes, GrantRequest(
                secret_class=cls, tier=job.tier, repository=repository_name(run.repository),
                ref=run.ref, environment=payload.get("environment")))
            if decision.granted:
                granted.append(name)
                audit.add(base, name, cls, "granted", f"{decision.reason} "
                                                      f"(policy {policy.hash})")
                continue
            refused[name] = decision.reason
        audit.add(base, name, cls, "refused", refused[name])
    values = secret_values(conn, master, granted)
    expires = _expiry(job, payload, step, now)
    conn.execute(sa.insert(secret_leases).values(
        id=lease_id, job_id=job.id, attempt=job.attempt, run_id=job.run_id, step=step,
        names=json.dumps(list(names)), granted=json.dumps(granted), jti=jti,
        created_at=now, expires_at=expires,
    ))
    if granted:
        conn.execute(sa.update(secrets_table).where(secrets_table.c.name.in_(granted))
                     .values(last_used_at=now))
    return BrokerLease(lease_id, expires, job.id, job.attempt, values, refused)


def _expiry(job: Any, payload: dict[str, Any], step: int, now: float) -> float:
    """The step's timeout from now, within the job's remaining time."""
    remaining = (job.leased_at or now) + job.timeout_s - now
    step_timeout = payload["steps"][step].get("timeout_s")
    span = min(remaining, step_timeout) if step_timeout else remaining
    return float(now + max(span, MIN_LEASE_S))


def release_lease(db: Database, lease_id: str, claims: Mapping[str, Any]) -> None:
    """End a lease early; only a token of the lease's own job attempt may."""
    with db.write() as conn:
        row = conn.execute(sa.select(secret_leases)
                           .where(secret_leases.c.id == lease_id)).first()
        if (row is None or row.job_id != claims.get("job_id")
                or row.attempt != _attempt(claims)):
            raise NotFound(f"no secrets lease {lease_id} for this job",
                           hint="release the lease id the broker answered")
        if row.released_at is None:
            conn.execute(sa.update(secret_leases).where(secret_leases.c.id == lease_id)
                         .values(released_at=time.time()))


def granted_for_lease(db: Database, agent_lease_id: str) -> tuple[str, int, set[str]] | None:
    """(job id, attempt, secret names granted to it) for the job attempt an agent lease holds."""
    with db.read() as conn:
        job = conn.execute(sa.select(jobs.c.id, jobs.c.attempt)
                           .where(jobs.c.lease_id == agent_lease_id)).first()
        if job is None:
            return None
        rows = conn.execute(sa.select(secret_leases.c.granted).where(
            secret_leases.c.job_id == job.id, secret_leases.c.attempt == job.attempt)).scalars()
        names: set[str] = set()
        for text in rows:
            names.update(json.loads(text))
    return job.id, job.attempt, names


def values_of(db: Database, master: MasterKey, names: Sequence[str]) -> dict[str, str]:
    """Decrypted values of ``names`` (for the server-side masker)."""
    with db.read() as conn:
        return secret_values(conn, master, names)


def secret_audit(db: Database, job_id: str) -> list[dict[str, Any]]:
    """The broker's audit rows for one job, oldest first."""
    with db.read() as conn:
        rows = conn.execute(sa.select(secret_events).where(secret_events.c.job_id == job_id)
                            .order_by(secret_events.c.cursor)).all()
    return [dict(r._mapping) for r in rows]
