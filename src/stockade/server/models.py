"""Request and answer bodies of the people-facing API (docs/rest-api.md).

Requests refuse unknown fields; answers are built from the store's records.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stockade.api.agent import EgressEvent
from stockade.identity.revocation import Revocation
from stockade.store.records import EgressEventRecord, JobRecord, LogLineRecord, RunRecord
from stockade.store.secrets import SecretInfo


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCreate(_Strict):
    repository: str = Field(min_length=1, max_length=4096)
    ref: str = Field(default="", max_length=1024)
    sha: str = Field(default="", max_length=64)
    event: str = Field(default="manual", pattern=r"^(manual|push|pull_request)$")
    tier: str | None = Field(default=None, max_length=64)
    pipeline: str | None = Field(default=None, max_length=1_000_000)
    priority: int = Field(default=0, ge=-100, le=100)


class TokenCreate(_Strict):
    name: str = Field(min_length=1, max_length=128)
    role: str = Field(pattern=r"^(admin|maintainer|viewer)$")


class RegistrationTokenCreate(_Strict):
    pool: str = Field(min_length=1, max_length=64)
    ttl_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)


class StepOut(BaseModel):
    index: int
    name: str
    status: str
    exit_code: int | None
    duration_s: float | None


class JobOut(BaseModel):
    id: str
    run_id: str
    name: str
    status: str
    attempt: int
    infra_retries: int
    outcome: str | None
    detail: str
    needs: list[str]
    tier: str
    pool: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    steps: list[StepOut]
    log_held: bool = False  # fail-closed masking: only admins may read the log until released

    @classmethod
    def of(cls, job: JobRecord) -> JobOut:
        return cls(
            id=job.id,
            run_id=job.run_id,
            name=job.name,
            status=job.status,
            attempt=job.attempt,
            infra_retries=job.infra_retries,
            outcome=job.outcome,
            detail=job.detail,
            needs=list(job.needs),
            tier=job.tier,
            pool=job.pool,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            steps=[StepOut(**s.__dict__) for s in job.steps],
            log_held=job.log_held,
        )


class RunOut(BaseModel):
    id: str
    status: str
    repository: str
    ref: str
    sha: str
    event: str
    actor: str
    fork: bool
    tier: str
    pool: str
    rule: str
    policy_hash: str
    reason: str
    requires_approval: bool
    approved_by: str | None
    created_at: float
    finished_at: float | None
    jobs: list[JobOut]

    @classmethod
    def of(cls, run: RunRecord) -> RunOut:
        return cls(
            id=run.id,
            status=run.status,
            repository=run.repository,
            ref=run.ref,
            sha=run.sha,
            event=run.event,
            actor=run.actor,
            fork=run.fork,
            tier=run.tier,
            pool=run.pool,
            rule=run.rule,
            policy_hash=run.policy_hash,
            reason=run.reason,
            requires_approval=run.requires_approval,
            approved_by=run.approved_by,
            created_at=run.created_at,
            finished_at=run.finished_at,
            jobs=[JobOut.of(j) for j in run.jobs],
        )


class RunList(BaseModel):
    runs: list[RunOut]


class LogLineOut(BaseModel):
    cursor: int
    job_id: str
    attempt: int
    seq: int
    step: int
    stream: str
    ts: float
    text: str

    @classmethod
    def of(cls, line: LogLineRecord) -> LogLineOut:
        return cls(**line.__dict__)


class LogPage(BaseModel):
    lines: list[LogLineOut]
    done: bool


class TokenOut(BaseModel):
    id: str
    name: str
    role: str
    created_at: float


class TokenCreated(TokenOut):
    token: str


class TokenList(BaseModel):
    tokens: list[TokenOut]


class RegistrationTokenOut(BaseModel):
    token: str
    pool: str
    expires_at: float


class AgentOut(BaseModel):
    id: str
    name: str
    pool: str
    last_seen: float
    state: str


class AgentList(BaseModel):
    agents: list[AgentOut]


class Health(BaseModel):
    status: str


class EgressEventOut(EgressEvent):
    """A stored egress event (the agent's fields) with the job it belongs to."""

    job: str
    job_id: str
    attempt: int

    @classmethod
    def of(cls, job: str, event: EgressEventRecord) -> EgressEventOut:
        fields = {k: v for k, v in event.__dict__.items() if k != "run_id"}
        return cls(job=job, **fields)


class EgressList(BaseModel):
    run_id: str
    events: list[EgressEventOut]
    allowed: int
    denied: int
    would_deny: int  # audit mode: allowed, but enforce mode would have denied them


class EgressSuggestion(BaseModel):
    run_id: str
    allow: list[str]  # the allowlist entries that would have let the run's traffic pass
    refused: list[str]  # host:port refused by address rules: no allowlist entry can fix them


# Identity and secrets (docs/identity.md).

# A secret's name is the step's environment variable of that name.
SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # noqa: S105 (a pattern)
SECRET_CLASS = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$"  # noqa: S105


class RevocationCreate(_Strict):
    kind: str = Field(pattern=r"^(jti|job|run|agent|window)$")
    value: str | None = Field(default=None, min_length=1, max_length=256)
    issued_after: float | None = None
    issued_before: float | None = None
    reason: str = Field(default="", max_length=1024)


class RevocationOut(BaseModel):
    id: str
    kind: str
    value: str | None
    issued_after: float | None
    issued_before: float | None
    reason: str
    created_at: float

    @classmethod
    def of(cls, rev: Revocation) -> RevocationOut:
        return cls(id=rev.id, kind=rev.kind, value=rev.value, issued_after=rev.issued_after,
                   issued_before=rev.issued_before, reason=rev.reason, created_at=rev.created_at)


class RevocationList(BaseModel):
    issuer: str
    revocations: list[RevocationOut]


class SecretPut(_Strict):
    value: str = Field(min_length=1, max_length=65536)
    secret_class: str = Field(default="default", alias="class", pattern=SECRET_CLASS)


class SecretOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    secret_class: str = Field(serialization_alias="class")
    created_at: float
    updated_at: float
    last_used_at: float | None

    @classmethod
    def of(cls, info: SecretInfo) -> SecretOut:
        return cls(name=info.name, secret_class=info.secret_class, created_at=info.created_at,
                   updated_at=info.updated_at, last_used_at=info.last_used_at)


class SecretList(BaseModel):
    secrets: list[SecretOut]
