"""Who is calling: people by API token and role, agents by their credential.

Both are ``Authorization: Bearer <token>``. A person's token never works as an agent credential
and the other way round: they live in different tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from stockade.errors import Forbidden, Unauthorized
from stockade.server.state import ServerState, get_state
from stockade.store.credentials import (
    AgentPrincipal,
    Principal,
    authenticate_agent,
    authenticate_person,
    role_at_least,
)


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "missing bearer token",
            hint="send Authorization: Bearer <token> (stockade token create, or admin.token)",
        )
    return token.strip()


def require_role(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits people whose token has ``role`` or a higher one."""

    async def dependency(request: Request, state: ServerState = Depends(get_state)) -> Principal:
        principal = await state.call(authenticate_person, state.db, bearer(request))
        if not role_at_least(principal.role, role):
            raise Forbidden(
                f"token {principal.name!r} has role {principal.role}; this needs {role}",
                hint=f"use a token with role {role} or higher",
            )
        return principal

    return dependency


async def require_agent(
    request: Request, state: ServerState = Depends(get_state)
) -> AgentPrincipal:
    """A dependency that admits registered agents."""
    return await state.call(authenticate_agent, state.db, bearer(request))


viewer = require_role("viewer")
maintainer = require_role("maintainer")
admin = require_role("admin")
