"""The agent protocol (src/stockade/api/agent.py), plus registration tokens and the agent list.

Every lease call checks that the lease is held by the calling agent and belongs to its pool: a
credential of one pool can never touch work of another.
"""

from __future__ import annotations

import time

import structlog
from fastapi import APIRouter, Depends, Request, Response

from stockade.api.agent import (
    SECRETS_AUDIENCE,
    Checkout,
    CompleteRequest,
    EgressEvent,
    HeartbeatResponse,
    IdTokenRequest,
    IdTokenResponse,
    JobPayload,
    Lease,
    LeaseRequest,
    LogAck,
    LogBatch,
    RegisterRequest,
    RegisterResponse,
    ReleaseRequest,
    StepReport,
)
from stockade.errors import PolicyDenied
from stockade.identity import JobIdentity, build_claims, mint
from stockade.identity.audience import audience_refusal
from stockade.identity.revocation import describe, revoked_by
from stockade.server.auth import admin, require_agent, viewer
from stockade.server.models import (
    AgentList,
    AgentOut,
    RegistrationTokenCreate,
    RegistrationTokenOut,
)
from stockade.server.notify import wait
from stockade.server.state import JobMasker, ServerState, get_state
from stockade.server.submit import repository_name
from stockade.store import credentials, dispatch
from stockade.store.broker import granted_for_lease, values_of
from stockade.store.credentials import AgentPrincipal, Principal
from stockade.store.ids import new_id
from stockade.store.idtokens import TokenJob, record_token_event, token_job
from stockade.store.keys import signing_key
from stockade.store.logs import Chunk, Step, append_logs
from stockade.store.records import EgressEventRecord
from stockade.store.revocations import list_revocations

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])
log = structlog.get_logger("stockade.server")

# Long-polls re-check the database this often even without a wake-up, so a job queued by
# another server process on the same database is still found.
POLL_INTERVAL_S = 1.0


@router.post("/registration-tokens", status_code=201, response_model=RegistrationTokenOut)
async def create_registration_token(
    body: RegistrationTokenCreate,
    state: ServerState = Depends(get_state),
    who: Principal = Depends(admin),
) -> RegistrationTokenOut:
    """A single-use, short-lived token that lets one agent join one pool."""
    ttl = body.ttl_s if body.ttl_s is not None else state.settings.registration_token_ttl_s
    token, expires = await state.call(
        credentials.create_registration_token, state.db, body.pool, ttl, who.token_id
    )
    log.info("registration_token_created", pool=body.pool, by=who.name, ttl_s=ttl)
    return RegistrationTokenOut(token=token, pool=body.pool, expires_at=expires)


@router.get("", response_model=AgentList)
async def list_agents(
    state: ServerState = Depends(get_state), _: Principal = Depends(viewer)
) -> AgentList:
    """Registered agents with their pool and when they were last heard from."""
    found = await state.call(credentials.list_agents, state.db)
    return AgentList(agents=[AgentOut(**a.__dict__) for a in found])


@router.post("/register", response_model=RegisterResponse)
async def register(
    body: RegisterRequest, state: ServerState = Depends(get_state)
) -> RegisterResponse:
    """Exchange a registration token for this agent's own credential."""
    agent_id, credential = await state.call(
        credentials.register_agent, state.db, body.registration_token, body.name, body.pool
    )
    log.info("agent_registered", agent_id=agent_id, pool=body.pool, name=body.name)
    return RegisterResponse(
        agent_id=agent_id,
        credential=credential,
        pool=body.pool,
        heartbeat_interval_s=state.settings.heartbeat_interval_s,
        lease_ttl_s=state.settings.lease_ttl_s,
    )


@router.post("/lease", response_model=Lease, responses={204: {"description": "no job came"}})
async def lease(
    body: LeaseRequest,
    request: Request,
    state: ServerState = Depends(get_state),
    agent: AgentPrincipal = Depends(require_agent),
) -> Lease | Response:
    """Long-poll for the next job of the agent's own pool."""
    deadline = time.monotonic() + body.wait_s
    while True:  # each claim also records that the agent was heard from
        woken = state.notifier.event(f"pool:{agent.pool}")
        if await request.is_disconnected():
            return Response(status_code=204)  # nobody would receive the lease
        claimed = await state.call(
            dispatch.claim_job, state.db, agent.pool, agent.agent_id, state.settings.lease_ttl_s
        )
        if claimed is not None:
            job = claimed.job
            assert job.lease_id is not None and job.lease_expires_at is not None
            state.notifier.notify(f"job:{job.id}")
            state.notifier.notify(f"run:{job.run_id}")
            log.info(
                "job_leased",
                job_id=job.id,
                run_id=job.run_id,
                agent_id=agent.agent_id,
                pool=agent.pool,
                attempt=job.attempt,
                sha=claimed.run_sha,
            )
            return Lease(
                lease_id=job.lease_id,
                job_id=job.id,
                run_id=job.run_id,
                attempt=job.attempt,
                tier=job.tier,
                pool=job.pool,
                expires_at=job.lease_expires_at,
                job=JobPayload.model_validate_json(job.payload),
                checkout=Checkout(repo_url=claimed.run_repository, sha=claimed.run_sha),
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Response(status_code=204)
        await wait(woken, min(remaining, POLL_INTERVAL_S))


@router.post("/leases/{lease_id}/heartbeat", response_model=HeartbeatResponse)
async def heartbeat(
    lease_id: str,
    state: ServerState = Depends(get_state),
    agent: AgentPrincipal = Depends(require_agent),
) -> HeartbeatResponse:
    """Keep the lease alive; ``cancel`` tells the agent to stop the job."""
    expires, cancel = await state.call(
        dispatch.heartbeat,
        state.db,
        lease_id,
        agent.agent_id,
        agent.pool,
        state.settings.lease_ttl_s,
    )
    return HeartbeatResponse(expires_at=expires, cancel=cancel)


@router.post("/leases/{lease_id}/logs", response_model=LogAck)
async def logs(
    lease_id: str,
    body: LogBatch,
    state: ServerState = Depends(get_state),
    agent: AgentPrincipal = Depends(require_agent),
) -> LogAck:
    """Store log chunks, then the step reports placed after them; a chunk already stored is
    ignored and a report is an upsert, so resends never duplicate. Every chunk is masked again
    here with the values granted to the job attempt (the agent masked it first); ``hold``
    holds the job's log for an admin."""
    texts = [c.text for c in body.chunks]
    if any(texts):
        masker = await _masker(state, lease_id)
        texts = await state.call(masker.mask, texts)
    chunks = [Chunk(c.seq, c.step, c.stream, c.ts, t) for c, t in zip(body.chunks, texts,
                                                                       strict=True)]
    reports = [Step(r.index, r.name, r.status, r.exit_code, r.duration_s) for r in body.steps]
    acked, recorded, effects = await state.call(
        append_logs, state.db, lease_id, agent.agent_id, agent.pool, chunks, reports=reports,
        hold=body.hold,
    )
    if body.hold:
        log.warning("job_log_held", lease_id=lease_id, agent_id=agent.agent_id,
                    job_ids=sorted(effects.jobs))
    state.notifier.publish(effects)
    return LogAck(acked_seq=acked, steps_recorded=recorded)


async def _masker(state: ServerState, lease_id: str) -> JobMasker:
    """The job attempt's masker, holding every value granted to it so far (also by another
    server process on the same database)."""
    found = await state.call(granted_for_lease, state.db, lease_id)
    if found is None:
        return JobMasker()  # the lease is over; storing will refuse, masking costs nothing
    job_id, attempt, names = found
    masker = state.maskers.get(job_id, attempt)
    missing = sorted(names - masker.names)
    if missing:
        masker.add(await state.call(values_of, state.db, state.master, missing))
    return masker


@router.post("/leases/{lease_id}/steps", status_code=204)
async def steps(
    lease_id: str,
    body: StepReport,
    state: ServerState = Depends(get_state),
    agent: AgentPrincipal = Depends(require_agent),
) -> Response:
    """Record a step's status."""
    await state.change(
        dispatch.report_step,
        state.db,
        lease_id,
        agent.agent_id,
        agent.pool,
        index=body.index,
        name=body.name,
        status=body.status,
        exit_code=body.exit_code,
        duration_s=body.duration_s,
    )
    return Response(status_code=204)


def _egress_record(event: EgressEvent) -> EgressEventRecord:
    # job, attempt and run come from the lease in the store, never from the agent's word.
    return EgressEventRecord(job_id="", attempt=0, run_id="", **event.model_dump())


@router.post("/leases/{lease_id}/complete", status_code=204)
async def complete(
    lease_id: str,
    body: CompleteRequest,
    state: ServerState = Depends(get_state),
    agent: AgentPrincipal = Depends(require_agent),
) -> Response:
    """Finish the job with the agent's outcome (409 logs_incomplete: resend logs first)."""
    await state.change(
        dispatch.complete,
        state.db,
        lease_id,
        agent.agent_id,
        agent.pool,
        outcome=body.outcome,
        detail=body.detail,
        last_seq=body.last_seq,
        policy=state.retry,
        egress=[_egress_record(e) for e in body.egress],
    )
    state.metrics.job_completed(agent.pool, body.outcome, body.egress)
    log.info("job_completed", lease_id=lease_id, agent_id=agent.agent_id, outcome=body.outcome)
    return Response(status_code=204)


@router.post("/leases/{lease_id}/release", status_code=204)
async def release(
    lease_id: str,
    body: ReleaseRequest,
    state: ServerState = Depends(get_state),
    agent: AgentPrincipal = Depends(require_agent),
) -> Response:
    """Hand the job back (the agent is draining); it is requeued."""
    await state.change(
        dispatch.release,
        state.db,
        lease_id,
        agent.agent_id,
        agent.pool,
        reason=body.reason,
        policy=state.retry,
    )
    log.info("job_released", lease_id=lease_id, agent_id=agent.agent_id)
    return Response(status_code=204)


@router.post("/leases/{lease_id}/id-token", response_model=IdTokenResponse)
async def id_token(
    lease_id: str,
    body: IdTokenRequest,
    state: ServerState = Depends(get_state),
    agent: AgentPrincipal = Depends(require_agent),
) -> IdTokenResponse:
    """A job ID token for one audience, if the job and its tier allow it (every issuance and
    refusal is audited; 409 lease_lost when the lease is not live and the caller's)."""
    job = await state.call(token_job, state.db, lease_id, agent.agent_id, agent.pool)
    payload = JobPayload.model_validate_json(job.payload)
    policy = state.policy  # recorded by hash with the decision
    tier = policy.tiers.get(job.tier)
    refusal = audience_refusal(
        body.audience,
        secrets_audience=SECRETS_AUDIENCE,
        declared_id_token=payload.id_token,
        has_secret_steps=any(step.secrets for step in payload.steps),
        tier=job.tier,
        tier_audiences=None if tier is None else tier.token_audiences,
    )
    reason, hint = (refusal.reason, refusal.hint) if refusal else ("", "")
    if refusal is None:
        # The token it would be: a window revocation covers it when it would be issued now.
        facts = {"job_id": job.job_id, "run_id": job.run_id, "runner_id": job.agent_id,
                 "iat": int(time.time())}
        rev = revoked_by(await state.call(list_revocations, state.db), facts)
        if rev is not None:
            reason, hint = f"revoked ({describe(rev)})", "an admin revoked this job's tokens"
    if reason:
        await state.call(record_token_event, state.db, job, audience=body.audience,
                         decision="refused", reason=reason, policy_hash=policy.hash)
        log.info("id_token_refused", job_id=job.job_id, run_id=job.run_id,
                 agent_id=agent.agent_id, audience=body.audience, reason=reason)
        raise PolicyDenied(f"no token for audience {body.audience}: {reason}", hint=hint)
    token, expires, jti, kid = await state.call(_mint, state, job, payload, body)
    await state.call(record_token_event, state.db, job, audience=body.audience,
                     decision="issued", reason="allowed", policy_hash=policy.hash, jti=jti,
                     kid=kid, expires_at=expires)
    log.info("id_token_issued", job_id=job.job_id, run_id=job.run_id, agent_id=agent.agent_id,
             audience=body.audience, jti=jti, kid=kid)
    return IdTokenResponse(token=token, expires_at=expires)


def _mint(
    state: ServerState, job: TokenJob, payload: JobPayload, body: IdTokenRequest
) -> tuple[str, float, str, str]:
    """Sign the job's claims with the current key: (token, expiry, jti, kid)."""
    key = signing_key(state.db, state.master)
    if key is None:
        raise PolicyDenied("the issuer has no signing key yet", hint="restart the server")
    identity = JobIdentity(
        repository=repository_name(job.repository), ref=job.ref, sha=job.sha,
        event_name=job.event, run_id=job.run_id, run_attempt=job.attempt, job=job.name,
        job_id=job.job_id, tier=job.tier, pool=job.pool, runner_id=job.agent_id,
        image_digest=body.image_digest, environment=payload.environment,
    )
    jti = new_id("jti")
    claims = build_claims(identity, issuer=state.settings.effective_issuer_url,
                          audience=body.audience, now=time.time(),
                          lifetime_s=state.settings.effective_id_token_lifetime_s, jti=jti)
    return mint(key, claims), float(claims["exp"]), jti, key.kid
