"""Planning: a validated pipeline and the policy's decisions become the jobs to store. Pure.

Each job is classified on its own (a job may lower its tier further than the run). A job that
cannot run as written -- a reserved key that is not supported yet, a tier above its run's, limits
above its tier's caps -- is planned as ``denied`` with the reason; it is never run with less.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stockade.api.agent import JobPayload, ResourcesPayload, StepPayload
from stockade.errors import PolicyDenied
from stockade.pipeline import Job, Pipeline
from stockade.policy import TIER_ORDER, Decision, job_limits
from stockade.store.records import PlannedJob


@dataclass(frozen=True)
class Plan:
    jobs: tuple[PlannedJob, ...]
    requires_approval: bool


def _payload(name: str, job: Job, decision: Decision) -> tuple[str, float]:
    limits = job_limits(decision.limits, name, job)
    steps = [
        StepPayload(
            name=step.name,
            run=step.run,
            env=dict(step.env),
            timeout_s=min(step.timeout, limits.timeout) if step.timeout is not None else None,
            continue_on_error=step.continue_on_error,
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
