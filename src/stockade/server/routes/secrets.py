"""The secrets broker: admins store secrets (values never read back); jobs lease them with a
job ID token for SECRETS_AUDIENCE, one step at a time. Every grant and refusal is audited."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Depends, Path, Request, Response

from stockade.api.agent import SECRETS_AUDIENCE, SecretsLease, SecretsRequest
from stockade.identity import verify
from stockade.server.auth import admin, bearer
from stockade.server.models import SECRET_NAME, SecretList, SecretOut, SecretPut
from stockade.server.state import ServerState, get_state
from stockade.server.submit import repository_name
from stockade.store import broker
from stockade.store.credentials import Principal
from stockade.store.keys import published_keys
from stockade.store.secrets import delete_secret, list_secrets, put_secret

router = APIRouter(prefix="/api/v1/secrets", tags=["secrets"])
log = structlog.get_logger("stockade.server")

_NAME = Path(pattern=SECRET_NAME, max_length=128)


@router.put("/{name}", response_model=SecretOut)
async def put(
    body: SecretPut, name: str = _NAME, state: ServerState = Depends(get_state),
    who: Principal = Depends(admin),
) -> SecretOut:
    """Create or replace a secret; the value is encrypted and never shown again."""
    created = await state.call(put_secret, state.db, state.master, name, body.secret_class,
                               body.value)
    log.info("secret_stored", name=name, secret_class=body.secret_class, created=created,
             by=who.name)
    found = await state.call(list_secrets, state.db)
    return SecretOut.of(next(s for s in found if s.name == name))


@router.get("", response_model=SecretList)
async def ls(state: ServerState = Depends(get_state), _: Principal = Depends(admin)) -> SecretList:
    """Names, classes and times of every secret; never a value."""
    return SecretList(secrets=[SecretOut.of(s) for s in await state.call(list_secrets, state.db)])


@router.delete("/{name}", status_code=204)
async def rm(
    name: str = _NAME, state: ServerState = Depends(get_state), who: Principal = Depends(admin)
) -> Response:
    """Delete a secret."""
    await state.call(delete_secret, state.db, name)
    log.info("secret_deleted", name=name, by=who.name)
    return Response(status_code=204)


async def _job_claims(request: Request, state: ServerState) -> dict[str, Any]:
    """The claims of the caller's job token for the broker (signature, iss, aud, exp, nbf)."""
    keys = await state.call(
        published_keys, state.db, max_lifetime_s=state.settings.effective_id_token_lifetime_s
    )
    return verify(bearer(request), {k["kid"]: k for k in keys},
                  issuer=state.settings.effective_issuer_url, audience=SECRETS_AUDIENCE)


@router.post("/lease", response_model=SecretsLease)
async def lease(
    body: SecretsRequest, request: Request, state: ServerState = Depends(get_state)
) -> SecretsLease:
    """The secrets one step declared: granted values and refused names, as one lease."""
    try:
        claims = await _job_claims(request, state)
    except Exception:
        log.info("secrets_token_refused", step=body.step, names=len(body.names))
        raise
    got = await state.call(
        broker.lease_secrets, state.db, state.master, state.policy, claims, step=body.step,
        names=body.names, repository_name=repository_name,
    )
    if got.values:
        # The second line of defence: this server masks these values in the job's log too.
        state.maskers.get(got.job_id, got.attempt).add(got.values)
    log.info("secrets_leased", job_id=got.job_id, run_id=claims.get("run_id"), step=body.step,
             lease_id=got.lease_id, granted=sorted(got.values), refused=sorted(got.refused))
    return SecretsLease(lease_id=got.lease_id, expires_at=got.expires_at, values=got.values,
                        refused=got.refused)


@router.post("/leases/{lease_id}/release", status_code=204)
async def release(
    lease_id: str, request: Request, state: ServerState = Depends(get_state)
) -> Response:
    """End a lease after the step (the same job's broker token)."""
    claims = await _job_claims(request, state)
    await state.call(broker.release_lease, state.db, lease_id, claims)
    log.info("secrets_lease_released", lease_id=lease_id, job_id=claims.get("job_id"))
    return Response(status_code=204)
