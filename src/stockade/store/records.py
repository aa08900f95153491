"""Frozen records the store hands out: what the server turns into API answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from stockade.store.ids import AgentId, JobId, LeaseId, RunId, TokenId


@dataclass(frozen=True)
class StepRecord:
    index: int
    name: str
    status: str
    exit_code: int | None
    duration_s: float | None


@dataclass(frozen=True)
class JobRecord:
    id: JobId
    run_id: RunId
    position: int
    name: str
    status: str
    attempt: int
    infra_retries: int
    tier: str
    pool: str
    needs: tuple[str, ...]
    payload: str
    timeout_s: float
    outcome: str | None
    detail: str
    lease_id: LeaseId | None
    lease_expires_at: float | None
    agent_id: AgentId | None
    cancel_requested: bool
    created_at: float
    queued_at: float | None
    started_at: float | None
    finished_at: float | None
    steps: tuple[StepRecord, ...] = ()
    log_held: bool = False  # fail-closed masking held the log for an admin


@dataclass(frozen=True)
class RunRecord:
    id: RunId
    status: str
    repository: str
    ref: str
    sha: str
    event: str
    actor: str
    fork: bool
    author_association: str
    tier: str
    pool: str
    rule: str
    policy_hash: str
    reason: str
    requires_approval: bool
    approved_by: str | None
    cancel_requested: bool
    priority: int
    created_at: float
    finished_at: float | None
    jobs: tuple[JobRecord, ...] = ()


@dataclass(frozen=True)
class LogLineRecord:
    cursor: int
    job_id: JobId
    attempt: int
    seq: int
    step: int
    stream: str
    ts: float
    text: str


@dataclass(frozen=True)
class AgentRecord:
    id: AgentId
    name: str
    pool: str
    state: str
    last_seen: float


@dataclass(frozen=True)
class TokenRecord:
    id: TokenId
    name: str
    role: str
    created_at: float


@dataclass(frozen=True)
class PlannedJob:
    """One job as the planner made it; ``denied`` set means it must never run."""

    name: str
    position: int
    tier: str
    pool: str
    needs: tuple[str, ...]
    payload: str
    timeout_s: float
    denied: str | None = None


@dataclass(frozen=True)
class PlannedRun:
    repository: str
    ref: str
    sha: str
    event: str
    actor: str
    fork: bool
    author_association: str
    tier: str
    pool: str
    rule: str
    policy_hash: str
    reason: str
    requires_approval: bool
    priority: int
    pipeline: str
    jobs: tuple[PlannedJob, ...]
    delivery_id: str | None = None
    delivery_event: str = ""


@dataclass
class Effects:
    """What a transaction changed, so the server can wake the right waiters after commit."""

    pools: set[str] = field(default_factory=set)  # pools that got a queued job
    jobs: set[str] = field(default_factory=set)  # jobs whose status or logs changed
    runs: set[str] = field(default_factory=set)

    def merge(self, other: Effects) -> None:
        self.pools |= other.pools
        self.jobs |= other.jobs
        self.runs |= other.runs


@dataclass(frozen=True)
class EgressEventRecord:
    """One decision of a job's egress proxy (see docs/egress.md for the fields)."""

    job_id: str
    attempt: int
    run_id: str
    ts: float
    kind: str
    host: str
    port: int
    ip: str | None
    decision: str
    would_deny: bool
    reason: str
    detail: str
    rule: str | None
    bytes_up: int
    bytes_down: int
    duration_s: float
