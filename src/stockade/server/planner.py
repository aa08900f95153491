"""Planning: a validated pipeline and the policy's decisions become the jobs to store. Pure.

Each job is classified on its own (a job may lower its tier further than the run). A job that
cannot run as written -- a reserved key that is not supported yet, a tier above its run's, limits
above its tier's caps -- is planned as ``denied`` with the reason; it is never run with less.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stockade.api.agent import EgressPayload, JobPayload, ResourcesPayload, StepPayload
from stockade.egress.allowlist import effective_allowlist
from stockade.errors import PolicyDenied
from stockade.pipeline import Job, Pipeline
from stockade.policy import TIER_ORDER, Decision, job_limits
from stockade.store.records import PlannedJob


@dataclass(frozen=True)
class Plan:
    jobs: tuple[PlannedJob, ...]
    requires_approval: bool


def egress_payload(name: str, job: Job, decision: Decision) -> EgressPayload:
    """The job's egress within its tier: the tier's allowlist, narrowed by the job's own
    ``egress:``; a host or audit mode the tier does not grant raises :class:`PolicyDenied`."""
    tier = decision.egress
    asked = job.egress
    allow, problems = effective_allowlist(
        tier.allow, asked.allow if asked is not None else None, tier.accept_job_hosts,
        tier=decision.tier,
    )
    if problems:
        raise PolicyDenied(f"job {name!r}: {problems[0]}",
                           hint="a job may narrow its tier's egress, never widen it")
    mode = tier.mode
    if asked is not None and asked.mode is not None and asked.mode != tier.mode:
        if asked.mode == "audit" and not tier.accept_job_hosts:
            # Audit mode lets every host through: only a tier that takes jobs' hosts may.
            raise PolicyDenied(
                f"job {name!r} asks for egress audit mode, but tier {decision.tier} enforces "
                "its allowlist",
                hint="remove `mode: audit` from the job's egress, or have the operator set "
                     f"egress_mode: audit (or egress_accept_job_hosts) on tier {decision.tier}",
            )
        mode = asked.mode
    return EgressPayload(
        allow=list(allow.texts()), mode=mode, allow_cidrs=list(tier.allow_cidrs),
        max_connections=tier.max_connections, max_bytes=tier.max_bytes,
        idle_timeout_s=tier.idle_timeout, connection_time_s=tier.connection_time,
    )


def _payload(name: str, job: Job, decision: Decision) -> tuple[str, float]:
    limits = job_limits(decision.limits, name, job)
    steps = [
        StepPayload(
            name=step.name,
            run=step.run,
            env=dict(step.env),
            timeout_s=min(step.timeout, limits.timeout) if step.timeout is not None else None,
            continue_on_error=step.continue_on_error,
            secrets=list(step.secrets),
        )
        for step in job.steps
    ]
    payload = JobPayload(
        name=name,
        image=job.image,
        env=dict(job.env),
        resources=ResourcesPayload(
            cpus=limits.cpus,
            memory_bytes=limits.memory,
            pids=limits.pids,
            disk_bytes=limits.disk,
            timeout_s=limits.timeout,
        ),
        steps=steps,
        egress=egress_payload(name, job, decision),
        id_token=job.id_token,
        environment=job.environment,
        mask_fail_closed=decision.mask_fail_closed,
    )
    return payload.model_dump_json(), limits.timeout


def plan_jobs(
    pipeline: Pipeline,
    run_decision: Decision,
    decide: Callable[[str | None], Decision],
) -> Plan:
    """Plan every job of ``pipeline``; ``decide(tier)`` classifies the event asking for ``tier``."""
    planned: list[PlannedJob] = []
    approval = False
    for position, name in enumerate(pipeline.order()):
        job = pipeline.jobs[name]
        needs = tuple(job.needs)
        denied: str | None = None
        decision = run_decision
        reserved = job.reserved_in_use()
        if reserved:
            denied = f"{', '.join(reserved)} is not supported yet"
        elif job.tier is not None and TIER_ORDER.index(job.tier) > TIER_ORDER.index(
            run_decision.tier
        ):
            denied = f"job asks for tier {job.tier}, above its run's tier {run_decision.tier}"
        else:
            try:
                decision = decide(job.tier or run_decision.tier)
            except PolicyDenied as exc:
                denied = exc.message
        payload, timeout = "{}", 0.0
        if denied is None:
            try:
                payload, timeout = _payload(name, job, decision)
            except PolicyDenied as exc:
                denied = exc.message
        if denied is None and decision.requires_approval:
            approval = True
        planned.append(
            PlannedJob(
                name=name,
                position=position,
                tier=decision.tier,
                pool=decision.pool,
                needs=needs,
                payload=payload,
                timeout_s=timeout,
                denied=denied,
            )
        )
    return Plan(tuple(planned), approval)
