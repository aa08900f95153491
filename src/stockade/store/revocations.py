"""Token revocations: recorded by admins, read by the broker and the public revocation list."""

from __future__ import annotations

import time

import sqlalchemy as sa

from stockade.identity.revocation import Revocation, check
from stockade.store.database import Database
from stockade.store.ids import new_id
from stockade.store.schema import revocations


def add_revocation(
    db: Database, *, kind: str, value: str | None, issued_after: float | None,
    issued_before: float | None, reason: str, created_by: str,
) -> Revocation:
    """Record a revocation (checked first: it must name something)."""
    check(kind, value, issued_after, issued_before)
    rev = Revocation(
        id=new_id("rev"), kind=kind, value=value if kind != "window" else None,
        issued_after=issued_after if kind == "window" else None,
        issued_before=issued_before if kind == "window" else None,
        reason=reason, created_at=time.time(), created_by=created_by,
    )
    with db.write() as conn:
        conn.execute(sa.insert(revocations).values(
            id=rev.id, kind=rev.kind, value=rev.value, issued_after=rev.issued_after,
            issued_before=rev.issued_before, reason=rev.reason, created_by=rev.created_by,
            created_at=rev.created_at,
        ))
    return rev


def list_revocations(db: Database) -> list[Revocation]:
    """Every revocation, oldest first."""
    with db.read() as conn:
        rows = conn.execute(sa.select(revocations)
                            .order_by(revocations.c.created_at, revocations.c.id)).all()
    return [Revocation(r.id, r.kind, r.value, r.issued_after, r.issued_before, r.reason,
                       r.created_at, r.created_by) for r in rows]
