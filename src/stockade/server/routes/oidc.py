"""The OIDC issuer's public face: discovery, JWKS, the revocation list; admins revoke tokens.

The three ``/.well-known`` documents need no credential: relying parties (cloud IAM, Vault)
fetch them to verify job tokens. Caching is short, so a rotation or revocation shows quickly.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from stockade.identity.discovery import (
    DISCOVERY_PATH,
    JWKS_PATH,
    REVOCATIONS_PATH,
    discovery_document,
)
from stockade.server.auth import admin
from stockade.server.models import RevocationCreate, RevocationList, RevocationOut
from stockade.server.state import ServerState, get_state
from stockade.store.credentials import Principal
from stockade.store.keys import published_keys
from stockade.store.revocations import add_revocation, list_revocations

router = APIRouter(tags=["identity"])
log = structlog.get_logger("stockade.server")


def _public(body: dict[str, Any], max_age: int = 60) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": f"public, max-age={max_age}"})


@router.get(DISCOVERY_PATH)
async def openid_configuration(state: ServerState = Depends(get_state)) -> JSONResponse:
    """OpenID Provider metadata: the issuer (exactly the tokens' ``iss``) and its JWKS URI."""
    return _public(discovery_document(state.settings.effective_issuer_url), 300)


@router.get(JWKS_PATH)
async def jwks(state: ServerState = Depends(get_state)) -> JSONResponse:
    """The public keys that verify job tokens: the signer and retired keys still in use."""
    keys = await state.call(
        published_keys, state.db, max_lifetime_s=state.settings.effective_id_token_lifetime_s
    )
    return _public({"keys": keys})


@router.get(REVOCATIONS_PATH, response_model=RevocationList)
async def public_revocations(state: ServerState = Depends(get_state)) -> JSONResponse:
    """Every revoked jti, job, run, agent and issue-time window, for relying parties."""
    found = await state.call(list_revocations, state.db)
    body = RevocationList(issuer=state.settings.effective_issuer_url,
                          revocations=[RevocationOut.of(r) for r in found])
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "public, max-age=10"})


@router.post("/api/v1/revocations", status_code=201, response_model=RevocationOut)
async def revoke(
    body: RevocationCreate, state: ServerState = Depends(get_state),
    who: Principal = Depends(admin),
) -> RevocationOut:
    """Revoke job tokens by jti, job, run, agent, or the window in which they were issued."""
    rev = await state.call(
        add_revocation, state.db, kind=body.kind, value=body.value,
        issued_after=body.issued_after, issued_before=body.issued_before, reason=body.reason,
        created_by=who.name,
    )
    log.info("tokens_revoked", revocation_id=rev.id, kind=rev.kind, value=rev.value,
             by=who.name)
    return RevocationOut.of(rev)


@router.get("/api/v1/revocations", response_model=RevocationList)
async def revocations(
    state: ServerState = Depends(get_state), _: Principal = Depends(admin)
) -> RevocationList:
    """The same list as the public one."""
    found = await state.call(list_revocations, state.db)
    return RevocationList(issuer=state.settings.effective_issuer_url,
                          revocations=[RevocationOut.of(r) for r in found])
