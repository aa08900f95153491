"""API tokens for people (admin only). The clear token is shown once, at creation."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Depends

from stockade.server.auth import admin
from stockade.server.models import TokenCreate, TokenCreated, TokenList, TokenOut
from stockade.server.state import ServerState, get_state
from stockade.store import credentials
from stockade.store.credentials import Principal

router = APIRouter(prefix="/api/v1", tags=["tokens"])
log = structlog.get_logger("stockade.server")


@router.post("/tokens", status_code=201, response_model=TokenCreated)
async def create_token(
    body: TokenCreate, state: ServerState = Depends(get_state), who: Principal = Depends(admin)
) -> TokenCreated:
    """Create a token with a role; only its hash is kept."""
    record, token = await state.call(credentials.create_api_token, state.db, body.name, body.role)
    log.info("api_token_created", token_id=record.id, role=record.role, by=who.name)
    return TokenCreated(
        id=record.id, name=record.name, role=record.role, created_at=record.created_at, token=token
    )


@router.get("/tokens", response_model=TokenList)
async def list_tokens(
    state: ServerState = Depends(get_state), _: Principal = Depends(admin)
) -> TokenList:
    """Tokens that are not revoked (never their values)."""
    found = await state.call(credentials.list_api_tokens, state.db)
    return TokenList(tokens=[TokenOut(**t.__dict__) for t in found])
