"""The agent protocol: JSON bodies exchanged between ``stockade agent`` and the server.

All under ``/api/v1/agents``; every call but ``register`` carries
``Authorization: Bearer <agent credential>``. Errors are JSON ``{"code", "message", "status"}``.

    POST /api/v1/agents/register                      RegisterRequest   -> RegisterResponse
         (no bearer; the single-use, short-lived, pool-scoped registration token is in the body)
    POST /api/v1/agents/lease                         LeaseRequest      -> 200 Lease | 204
         (long-poll: waits up to ``wait_s`` for a job of the credential's own pool)
    POST /api/v1/agents/leases/{lease_id}/heartbeat   (empty)           -> HeartbeatResponse
         409 {"code": "lease_lost"} when the lease expired or was taken away: stop the job.
    POST /api/v1/agents/leases/{lease_id}/logs        LogBatch          -> LogAck
         idempotent: a chunk whose ``seq`` was already stored is ignored, so a resend after a
         timeout never duplicates a line; ``acked_seq`` is the highest contiguous seq stored.
         ``steps`` (step reports placed at or before the batch's last chunk, in the order they
         were made) are recorded in the same transaction, only once every chunk up to that one
         is stored; ``steps_recorded`` says whether they were (all of them, or none). Recording
         a report is an upsert, so a resend is harmless. This saves a request per report.
    POST /api/v1/agents/leases/{lease_id}/steps       StepReport        -> 204
         one report on its own (older agents; same effect as a ``logs`` call without chunks).
    POST /api/v1/agents/leases/{lease_id}/complete    CompleteRequest   -> 204
         carries the job's egress events, stored in the completion's transaction.
    POST /api/v1/agents/leases/{lease_id}/release     ReleaseRequest    -> 204
         hand the job back unstarted or interrupted (drain); it is requeued.
    POST /api/v1/agents/leases/{lease_id}/id-token    IdTokenRequest    -> IdTokenResponse
         a job ID token (OIDC, signed by the server) for the lease's job; 403 policy_denied when
         the job did not declare id-token (SECRETS_AUDIENCE excepted, for jobs with secrets) or
         its tier does not allow the audience; 409 lease_lost when the lease is over.

Secrets broker (authorized by a job ID token for SECRETS_AUDIENCE, not the agent credential):

    POST /api/v1/secrets/lease                        SecretsRequest    -> SecretsLease
    POST /api/v1/secrets/leases/{lease_id}/release    (empty)           -> 204
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterRequest(_Strict):
    registration_token: str = Field(min_length=8, max_length=512)
    name: str = Field(min_length=1, max_length=128)
    pool: str = Field(min_length=1, max_length=64)


class RegisterResponse(_Strict):
    agent_id: str
    credential: str
    pool: str
    heartbeat_interval_s: float
    lease_ttl_s: float


class LeaseRequest(_Strict):
    wait_s: float = Field(default=20.0, ge=0, le=60)


class ResourcesPayload(_Strict):
    cpus: float
    memory_bytes: int
    pids: int
    disk_bytes: int
    timeout_s: float


class StepPayload(_Strict):
    name: str
    run: str
    env: dict[str, str] = {}
    timeout_s: float | None = None
    continue_on_error: bool = False
    secrets: list[str] = []  # names the step declared; fetched just before it, gone after it


class EgressPayload(_Strict):
    """The job's way out, decided at plan time from its tier and its own ``egress:``."""

    allow: list[str]  # host, *.suffix, optionally :port (docs/egress.md)
    mode: str = Field(default="enforce", pattern=r"^(enforce|audit)$")
    allow_cidrs: list[str] = []  # special-purpose ranges the tier may reach after all
    max_connections: int = Field(default=1024, ge=1)
    max_bytes: int = Field(default=8 * 1024**3, ge=0)
    idle_timeout_s: float = Field(default=300.0, gt=0)
    connection_time_s: float = Field(default=3600.0, gt=0)


class JobPayload(_Strict):
    """The job as planned by the server: limits already capped by the tier's policy."""

    name: str
    image: str
    env: dict[str, str] = {}
    resources: ResourcesPayload
    steps: list[StepPayload]
    # None only from servers before egress: the job then gets no network at all.
    egress: EgressPayload | None = None
    id_token: bool = False  # the job declared `id-token: true`
    environment: str | None = None
    # The tier's fail-closed masking: a secret or canary surviving masking stops the job and
    # holds its log for an operator.
    mask_fail_closed: bool = False


class Checkout(_Strict):
    repo_url: str  # URL or local path the agent can clone/fetch with its own credential
    sha: str = Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class Lease(_Strict):
    lease_id: str
    job_id: str
    run_id: str
    attempt: int
    tier: str
    pool: str
    expires_at: float
    job: JobPayload
    checkout: Checkout


class HeartbeatResponse(_Strict):
    expires_at: float
    cancel: bool = False


class StepReport(_Strict):
    index: int = Field(ge=0)
    name: str
    status: str = Field(
        pattern=r"^(running|success|failed|timeout|oom|limit|cancelled|infra|skipped)$"
    )
    exit_code: int | None = None
    duration_s: float | None = None


class LogChunk(_Strict):
    seq: int = Field(ge=0)  # per lease, starting at 0, contiguous
    step: int = Field(ge=-1)
    stream: str = Field(pattern=r"^(stdout|stderr|system)$")
    ts: float
    text: str = Field(max_length=65536)


class LogBatch(_Strict):
    chunks: list[LogChunk] = Field(max_length=1000)
    # Reports whose place in the stream is at or before the last chunk (or within what is already
    # acknowledged, when there are no chunks); recorded only once every chunk up to the last is.
    steps: list[StepReport] = Field(default=[], max_length=256)
    # A registered secret or canary survived masking in this job's output (fail-closed tiers):
    # the server holds the job's log for an operator from this batch on.
    hold: bool = False


class LogAck(_Strict):
    acked_seq: int  # -1 when nothing is stored yet
    steps_recorded: int = 0  # len(batch.steps) when they were recorded, else 0


class EgressEvent(_Strict):
    """One decision of the job's egress proxy: a connection or request, allowed or denied."""

    ts: float
    kind: str = Field(pattern=r"^(connect|http|internal)$")
    host: str = Field(max_length=512)
    port: int = Field(ge=0, le=65535)
    ip: str | None = Field(default=None, max_length=64)
    decision: str = Field(pattern=r"^(allow|deny)$")
    would_deny: bool = False  # audit mode: allowed, but enforce mode would have denied it
    reason: str = Field(max_length=64)  # a stable code, e.g. not_allowlisted
    detail: str = Field(default="", max_length=1024)
    rule: str | None = Field(default=None, max_length=512)
    bytes_up: int = Field(default=0, ge=0)
    bytes_down: int = Field(default=0, ge=0)
    duration_s: float = Field(default=0.0, ge=0)


class CompleteRequest(_Strict):
    outcome: str = Field(pattern=r"^(success|failed|timeout|oom|limit|cancelled|infra)$")
    detail: str = Field(default="", max_length=4096)
    duration_s: float
    last_seq: int = Field(ge=-1)  # the server checks it holds every log chunk up to this seq
    egress: list[EgressEvent] = Field(default=[], max_length=5000)


class ReleaseRequest(_Strict):
    reason: str = Field(max_length=512)


#: The audience of the token an agent presents to the secrets broker for its job. Never handed
#: to the job itself, and never an audience a tier may list.
SECRETS_AUDIENCE = "stockade:secrets"


class IdTokenRequest(_Strict):
    """``POST /api/v1/agents/leases/{lease_id}/id-token``: a job ID token for one audience."""

    audience: str = Field(min_length=1, max_length=256)
    image_digest: str | None = Field(default=None, max_length=80)  # as the agent resolved it


class IdTokenResponse(_Strict):
    token: str
    expires_at: float


class SecretsRequest(_Strict):
    """``POST /api/v1/secrets/lease`` with ``Authorization: Bearer <job token for
    SECRETS_AUDIENCE>``: the secrets one step declared."""

    step: int = Field(ge=0)
    names: list[str] = Field(min_length=1, max_length=64)


class SecretsLease(_Strict):
    """What the broker granted (values) and refused (name -> why), as one lease."""

    lease_id: str
    expires_at: float
    values: dict[str, str] = {}
    refused: dict[str, str] = {}
