"""Stored secrets: values encrypted under the master key, never read back by the API.

The associated data binds each ciphertext to its name and class, so a ciphertext moved to
another row (or a class changed in the database behind the server's back) does not decrypt.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from stockade.errors import NotFound
from stockade.masking import check_secret
from stockade.secrets.crypto import MasterKey, Sealed, aad, seal, unseal
from stockade.store.database import Database
from stockade.store.schema import secrets as secrets_table


@dataclass(frozen=True)
class SecretInfo:
    """What anyone may see of a secret: never its value."""

    name: str
    secret_class: str
    created_at: float
    updated_at: float
    last_used_at: float | None


def _aad(name: str, secret_class: str) -> bytes:
    return aad("secret", name, secret_class)


def put_secret(db: Database, master: MasterKey, name: str, secret_class: str, value: str) -> bool:
    """Create or replace a secret (a fresh nonce every write); True when it was new."""
    check_secret(value)  # a value too short to mask would leak through every log
    sealed = seal(master, value.encode(), _aad(name, secret_class))
    now = time.time()
    with db.write() as conn:
        updated = conn.execute(
            sa.update(secrets_table).where(secrets_table.c.name == name).values(
                {"class": secret_class, "nonce": sealed.nonce, "ciphertext": sealed.ciphertext,
                 "updated_at": now})
        )
        if updated.rowcount:
            return False
        conn.execute(sa.insert(secrets_table).values(
            {"name": name, "class": secret_class, "nonce": sealed.nonce,
             "ciphertext": sealed.ciphertext, "created_at": now, "updated_at": now}))
    return True


def list_secrets(db: Database) -> list[SecretInfo]:
    """Every secret's name, class and times, by name."""
    t = secrets_table.c
    with db.read() as conn:
        rows = conn.execute(sa.select(t.name, t["class"], t.created_at, t.updated_at,
                                      t.last_used_at).order_by(t.name)).all()
    return [SecretInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def delete_secret(db: Database, name: str) -> None:
    """Remove a secret; NotFound when there is none of that name."""
    with db.write() as conn:
        gone = conn.execute(sa.delete(secrets_table).where(secrets_table.c.name == name))
    if not gone.rowcount:
        raise NotFound(f"no secret {name}", hint="list them with stockade secret ls")


def secret_classes(conn: sa.Connection, names: Iterable[str]) -> dict[str, str]:
    """The class of each named secret that exists."""
    t = secrets_table.c
    return {r[0]: r[1] for r in conn.execute(
        sa.select(t.name, t["class"]).where(t.name.in_(list(names))))}


def secret_values(conn: sa.Connection, master: MasterKey, names: Iterable[str]) -> dict[str, str]:
    """The decrypted values of the named secrets that exist (in the caller's transaction)."""
    out: dict[str, str] = {}
    for row in conn.execute(sa.select(secrets_table)
                            .where(secrets_table.c.name.in_(list(names)))):
        m = row._mapping
        sealed = Sealed(bytes(m["nonce"]), bytes(m["ciphertext"]))
        out[str(m["name"])] = unseal(master, sealed, _aad(str(m["name"]), str(m["class"]))).decode()
    return out
