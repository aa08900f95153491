"""The issuer's signing keys in the database, private halves encrypted under the master key.

Rotation is one write transaction (safe with several servers: each re-reads the keys inside it);
the decision is :func:`stockade.identity.rotation.plan`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from stockade.identity import keys as identity_keys
from stockade.identity import rotation
from stockade.identity.keys import KeyMaterial
from stockade.secrets.crypto import MasterKey, Sealed, aad, seal, unseal
from stockade.store.database import Database
from stockade.store.schema import signing_keys


@dataclass(frozen=True)
class RotationResult:
    created: str | None
    retired: tuple[str, ...]
    dropped: tuple[str, ...]


def _aad(kid: str, alg: str) -> bytes:
    return aad("signing-key", kid, alg)


def _states(conn: sa.Connection) -> list[rotation.KeyState]:
    rows = conn.execute(
        sa.select(signing_keys.c.kid, signing_keys.c.alg, signing_keys.c.created_at,
                  signing_keys.c.retired_at)
    ).all()
    return [rotation.KeyState(r.kid, r.alg, r.created_at, r.retired_at) for r in rows]


def rotate_keys(
    db: Database, master: MasterKey, *, alg: str, rotation_s: float, max_lifetime_s: float,
    now: float | None = None,
) -> RotationResult:
    """Make a key when none signs or the signer is due, retire the old one, drop keys whose
    last token expired."""
    now = time.time() if now is None else now
    with db.write() as conn:
        todo = rotation.plan(_states(conn), now=now, alg=alg, rotation_s=rotation_s,
                             max_lifetime_s=max_lifetime_s)
        if todo.retire:
            conn.execute(sa.update(signing_keys)
                         .where(signing_keys.c.kid.in_(todo.retire))
                         .values(retired_at=now))
        if todo.drop:
            conn.execute(sa.delete(signing_keys).where(signing_keys.c.kid.in_(todo.drop)))
        created = None
        if todo.create:
            material = identity_keys.generate(alg)
            sealed = seal(master, material.private_pem, _aad(material.kid, alg))
            conn.execute(sa.insert(signing_keys).values(
                kid=material.kid, alg=alg,
                public_jwk=json.dumps(identity_keys.public_jwk(material), sort_keys=True),
                nonce=sealed.nonce, ciphertext=sealed.ciphertext, created_at=now,
            ))
            created = material.kid
    return RotationResult(created, todo.retire, todo.drop)


def signing_key(db: Database, master: MasterKey) -> KeyMaterial | None:
    """The key that signs now (decrypted), or None before the first rotation."""
    with db.read() as conn:
        current = rotation.signer(_states(conn))
        if current is None:
            return None
        row = conn.execute(sa.select(signing_keys)
                           .where(signing_keys.c.kid == current.kid)).one()
    pem = unseal(master, Sealed(row.nonce, row.ciphertext), _aad(row.kid, row.alg))
    return KeyMaterial(row.kid, row.alg, pem)


def published_keys(
    db: Database, *, max_lifetime_s: float, now: float | None = None
) -> list[dict[str, Any]]:
    """The public JWKs relying parties may verify with, newest first."""
    now = time.time() if now is None else now
    with db.read() as conn:
        states = rotation.published(_states(conn), now=now, max_lifetime_s=max_lifetime_s)
        wanted = [s.kid for s in sorted(states, key=lambda s: -s.created_at)]
        rows = {r.kid: r.public_jwk for r in conn.execute(
            sa.select(signing_keys.c.kid, signing_keys.c.public_jwk)
            .where(signing_keys.c.kid.in_(wanted)))}
    return [json.loads(rows[kid]) for kid in wanted if kid in rows]
