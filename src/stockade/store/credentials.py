"""Secrets that prove who calls: API tokens (people), registration tokens and agent credentials.

Only SHA-256 digests are stored. That is enough for random tokens of 256 bits (nothing to
brute-force), and lets a token be found by its digest; the digests are compared again in
constant time before they are trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from stockade.errors import Forbidden, InvalidInput, Unauthorized
from stockade.store.database import Database
from stockade.store.ids import AgentId, TokenId, new_id
from stockade.store.records import AgentRecord, TokenRecord
from stockade.store.schema import agents, api_tokens, registration_tokens

ROLES = ("viewer", "maintainer", "admin")  # each role can do what the ones before it can


def role_at_least(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def new_secret(prefix: str) -> str:
    """A fresh random token, e.g. ``stk_<43 urlsafe chars>`` (256 bits)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """A person's token, resolved."""

    token_id: TokenId
    name: str
    role: str


@dataclass(frozen=True)
class AgentPrincipal:
    agent_id: AgentId
    name: str
    pool: str


def create_api_token(db: Database, name: str, role: str) -> tuple[TokenRecord, str]:
    """Create a token; the clear token is returned once and never stored."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", hint=f"one of {', '.join(ROLES)}")
    token = new_secret("stk")
    record = TokenRecord(TokenId(new_id("tok")), name, role, time.time())
    with db.write() as conn:
        conn.execute(
            sa.insert(api_tokens).values(
                id=record.id,
                name=name,
                role=role,
                token_hash=digest(token),
                created_at=record.created_at,
            )
        )
    return record, token


def bootstrap_admin(db: Database) -> str | None:
    """On an empty token table, create the first admin token and return it (else None)."""
    token = new_secret("stk")
    with db.write() as conn:
        if conn.execute(sa.select(api_tokens.c.id).limit(1)).first() is not None:
            return None
        conn.execute(
            sa.insert(api_tokens).values(
                id=new_id("tok"),
                name="admin",
                role="admin",
                token_hash=digest(token),
                created_at=time.time(),
            )
        )
    return token


def list_api_tokens(db: Database) -> list[TokenRecord]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(api_tokens)
            .where(api_tokens.c.revoked_at.is_(None))
            .order_by(api_tokens.c.created_at)
        ).all()
    return [TokenRecord(TokenId(r.id), r.name, r.role, r.created_at) for r in rows]


def authenticate_person(db: Database, token: str) -> Principal:
    """Resolve a bearer token to a person's principal, or raise Unauthorized."""
    wanted = digest(token)
    with db.read() as conn:
        row = conn.execute(
            sa.select(api_tokens).where(
                api_tokens.c.token_hash == wanted, api_tokens.c.revoked_at.is_(None)
            )
        ).first()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        raise Unauthorized(
            "unknown or revoked API token", hint="create one with stockade token create"
        )
    return Principal(TokenId(row.id), row.name, row.role)


def create_registration_token(
    db: Database, pool: str, ttl_s: float, created_by: str
) -> tuple[str, float]:
    """A single-use token that lets one agent join ``pool`` within ``ttl_s`` seconds."""
    token = new_secret("stkr")
    now = time.time()
    with db.write() as conn:
        conn.execute(
            sa.insert(registration_tokens).values(
                id=new_id("reg"),
                token_hash=digest(token),
                pool=pool,
                created_by=created_by,
                created_at=now,
                expires_at=now + ttl_s,
            )
        )
    return token, now + ttl_s


def register_agent(
    db: Database, registration_token: str, name: str, pool: str
) -> tuple[AgentId, str]:
    """Exchange a registration token for an agent credential (returned once, stored hashed)."""
    wanted = digest(registration_token)
    credential = new_secret("stka")
    agent_id = AgentId(new_id("agt"))
    with db.write() as conn:
        row = conn.execute(
            sa.select(registration_tokens).where(registration_tokens.c.token_hash == wanted)
        ).first()
        now = time.time()
        if row is None or not hmac.compare_digest(row.token_hash, wanted):
            raise Unauthorized(
                "unknown registration token",
                hint="ask an admin for a new one",
                code="invalid_registration_token",
            )
        if row.used_at is not None:
            raise Unauthorized(
                "registration token was already used",
                hint="registration tokens are single-use; ask an admin for a new one",
                code="registration_token_used",
            )
        if row.expires_at < now:
            raise Unauthorized(
                "registration token expired",
                hint="registration tokens are short-lived; ask an admin for a new one",
                code="registration_token_expired",
            )
        if row.pool != pool:
            raise Forbidden(
                f"registration token is for pool {row.pool!r}, not {pool!r}",
                hint=f"start the agent with --pool {row.pool}",
                code="pool_mismatch",
            )
        taken = conn.execute(
            sa.update(registration_tokens)
            .where(registration_tokens.c.id == row.id, registration_tokens.c.used_at.is_(None))
            .values(used_at=now, agent_id=agent_id)
        )
        if taken.rowcount != 1:
            raise Unauthorized(
                "registration token was already used", code="registration_token_used"
            )
        conn.execute(
            sa.insert(agents).values(
                id=agent_id,
                name=name,
                pool=pool,
                credential_hash=digest(credential),
                state="online",
                created_at=now,
                last_seen=now,
            )
        )
    return agent_id, credential


def authenticate_agent(db: Database, credential: str) -> AgentPrincipal:
    """Resolve an agent credential, or raise Unauthorized."""
    wanted = digest(credential)
    with db.read() as conn:
        row = conn.execute(sa.select(agents).where(agents.c.credential_hash == wanted)).first()
    if (
        row is None
        or not hmac.compare_digest(row.credential_hash, wanted)
        or row.state == "revoked"
    ):
        raise Unauthorized("unknown agent credential", hint="register the agent again")
    return AgentPrincipal(AgentId(row.id), row.name, row.pool)


def list_agents(db: Database) -> list[AgentRecord]:
    with db.read() as conn:
        rows = conn.execute(sa.select(agents).order_by(agents.c.created_at)).all()
    return [AgentRecord(AgentId(r.id), r.name, r.pool, r.state, r.last_seen) for r in rows]
