"""Job and run states, and the one table of allowed job transitions.

Every status change of a job goes through :func:`check_transition`; anything not in
``TRANSITIONS`` raises, so a bug cannot quietly move a finished job back into the queue.
"""

from __future__ import annotations

from enum import StrEnum

from stockade.errors import StockadeError


class JobStatus(StrEnum):
    PENDING = "pending"  # waiting for its needs (or for approval)
    QUEUED = "queued"
    LEASED = "leased"  # an agent holds the lease, no step has started yet
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    OOM = "oom"
    LIMIT = "limit"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # a need did not succeed
    LOST = "lost"  # infrastructure retries exhausted
    INFRA = "infra"  # the agent reported an infrastructure failure, retries exhausted
    DENIED = "denied"  # refused at plan time (reserved key, tier above the classified one)


class RunStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_JOB = frozenset(
    {
        JobStatus.SUCCESS,
        JobStatus.FAILED,
        JobStatus.TIMEOUT,
        JobStatus.OOM,
        JobStatus.LIMIT,
        JobStatus.CANCELLED,
        JobStatus.SKIPPED,
        JobStatus.LOST,
        JobStatus.INFRA,
        JobStatus.DENIED,
    }
)
ACTIVE_JOB = frozenset({JobStatus.LEASED, JobStatus.RUNNING})
# Outcomes an agent may report when it completes a lease.
AGENT_OUTCOMES = frozenset(
    {
        JobStatus.SUCCESS,
        JobStatus.FAILED,
        JobStatus.TIMEOUT,
        JobStatus.OOM,
        JobStatus.LIMIT,
        JobStatus.CANCELLED,
        JobStatus.INFRA,
    }
)

_S = JobStatus
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    _S.PENDING: frozenset({_S.QUEUED, _S.SKIPPED, _S.CANCELLED, _S.DENIED}),
    _S.QUEUED: frozenset({_S.LEASED, _S.CANCELLED}),
    # leased/running -> queued is the infrastructure retry (lease expired, agent handed it back
    # or reported an infrastructure failure); -> lost when the retries are used up.
    _S.LEASED: AGENT_OUTCOMES | {_S.RUNNING, _S.QUEUED, _S.LOST},
    _S.RUNNING: AGENT_OUTCOMES | {_S.QUEUED, _S.LOST},
    **{final: frozenset() for final in FINAL_JOB},
}


class IllegalTransition(StockadeError):
    """A job was asked to move between two states the state machine does not connect."""

    code = "illegal_transition"
    status = 409


def check_transition(current: str, new: str) -> JobStatus:
    """Return ``new`` as a JobStatus if ``current -> new`` is allowed; raise otherwise."""
    src, dst = JobStatus(current), JobStatus(new)
    if dst not in TRANSITIONS[src]:
        raise IllegalTransition(
            f"job cannot go from {src} to {dst}",
            hint=f"from {src} a job may go to: {', '.join(sorted(TRANSITIONS[src])) or 'nothing'}",
        )
    return dst


def derive_run_status(
    job_statuses: list[str], *, awaiting_approval: bool, cancel_requested: bool
) -> RunStatus:
    """The status of a run, from its jobs' statuses."""
    statuses = [JobStatus(s) for s in job_statuses]
    if not all(s in FINAL_JOB for s in statuses):
        if awaiting_approval:
            return RunStatus.AWAITING_APPROVAL
        started = any(s in ACTIVE_JOB or s in FINAL_JOB for s in statuses)
        return RunStatus.RUNNING if started else RunStatus.QUEUED
    if all(s == JobStatus.SUCCESS for s in statuses):
        return RunStatus.SUCCESS
    if cancel_requested or JobStatus.CANCELLED in statuses:
        return RunStatus.CANCELLED
    return RunStatus.FAILED


FINAL_RUN = frozenset({RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED})
