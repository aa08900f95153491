"""The store's tables (SQLAlchemy Core). Portable SQL only: the same schema runs on PostgreSQL.

Times are epoch seconds (double precision); JSON documents are stored as text so every database
holds them the same way. The migrations under ``migrations/versions`` create exactly these tables;
a test checks that the two never drift apart.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

ID = sa.String(40)
# An integer primary key that autoincrements everywhere: BIGINT identity on PostgreSQL, the
# rowid alias on SQLite (which only aliases a column declared exactly INTEGER).
CURSOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("repository", sa.Text(), nullable=False),
    sa.Column("ref", sa.Text(), nullable=False),
    sa.Column("sha", sa.String(64), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("fork", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("author_association", sa.String(64), nullable=False),
    sa.Column("tier", sa.String(64), nullable=False),
    sa.Column("pool", sa.String(64), nullable=False),
    sa.Column("rule", sa.String(256), nullable=False),
    sa.Column("policy_hash", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("requires_approval", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("approved_by", sa.String(256), nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("pipeline", sa.Text(), nullable=False),
    sa.Column("delivery_id", sa.String(128), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("finished_at", sa.Double(), nullable=True),
)
sa.Index("ix_runs_created_at", runs.c.created_at)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("run_id", ID, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),  # order of the job in its pipeline
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False, server_default=sa.text("1")),
    sa.Column("infra_retries", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("tier", sa.String(64), nullable=False),
    sa.Column("pool", sa.String(64), nullable=False),
    sa.Column("needs", sa.Text(), nullable=False),  # JSON list of job names
    sa.Column("payload", sa.Text(), nullable=False),  # JSON of api.agent.JobPayload
    sa.Column("timeout_s", sa.Double(), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("detail", sa.Text(), nullable=False, server_default=""),
    sa.Column("lease_id", ID, nullable=True, unique=True),
    sa.Column("lease_expires_at", sa.Double(), nullable=True),
    sa.Column("agent_id", ID, nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("queued_at", sa.Double(), nullable=True),
    sa.Column("leased_at", sa.Double(), nullable=True),
    sa.Column("started_at", sa.Double(), nullable=True),
    sa.Column("finished_at", sa.Double(), nullable=True),
    # A secret or canary survived masking (fail-closed tier): only admins may read the log.
    sa.Column("log_held", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("run_id", "name"),
)
# The dispatch query: queued jobs of one pool, by priority then age.
sa.Index("ix_jobs_dispatch", jobs.c.pool, jobs.c.status, jobs.c.priority, jobs.c.queued_at)
sa.Index("ix_jobs_run_id", jobs.c.run_id)
sa.Index("ix_jobs_status_lease", jobs.c.status, jobs.c.lease_expires_at)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("job_id", ID, sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True),
    sa.Column("idx", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("duration_s", sa.Double(), nullable=True),
    sa.Column("updated_at", sa.Double(), nullable=False),
)

log_lines = sa.Table(
    "log_lines",
    metadata,
    sa.Column("cursor", CURSOR, primary_key=True, autoincrement=True),
    sa.Column("job_id", ID, sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("step", sa.Integer(), nullable=False),
    sa.Column("stream", sa.String(16), nullable=False),
    sa.Column("ts", sa.Double(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    # A resend of a chunk never duplicates it.
    sa.UniqueConstraint("job_id", "attempt", "seq"),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("pool", sa.String(64), nullable=False),
    sa.Column("credential_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("last_seen", sa.Double(), nullable=False),
)

registration_tokens = sa.Table(
    "registration_tokens",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("pool", sa.String(64), nullable=False),
    sa.Column("created_by", ID, nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("used_at", sa.Double(), nullable=True),
    sa.Column("agent_id", ID, nullable=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("revoked_at", sa.Double(), nullable=True),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(128), primary_key=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("run_id", ID, nullable=True),
    sa.Column("received_at", sa.Double(), nullable=False),
)

# One row per connection or request a job's egress proxy decided (docs/egress.md).
egress_events = sa.Table(
    "egress_events",
    metadata,
    sa.Column("cursor", CURSOR, primary_key=True, autoincrement=True),
    sa.Column("job_id", ID, sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("run_id", ID, nullable=False),
    sa.Column("ts", sa.Double(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # connect | http | internal
    sa.Column("host", sa.String(512), nullable=False),
    sa.Column("port", sa.Integer(), nullable=False),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("decision", sa.String(16), nullable=False),  # allow | deny
    sa.Column("would_deny", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False, server_default=""),
    sa.Column("rule", sa.String(512), nullable=True),
    sa.Column("bytes_up", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    sa.Column("bytes_down", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    sa.Column("duration_s", sa.Double(), nullable=False, server_default=sa.text("0")),
)
sa.Index("ix_egress_events_run_id", egress_events.c.run_id)
sa.Index("ix_egress_events_job_id_attempt", egress_events.c.job_id, egress_events.c.attempt)

# The OIDC issuer's signing keys, the private half encrypted under the master key (AES-GCM, the
# associated data binding kid and alg). Retired keys stay until their last token expired.
signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("public_jwk", sa.Text(), nullable=False),  # JSON
    sa.Column("nonce", sa.LargeBinary(), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("retired_at", sa.Double(), nullable=True),
)

# Every job ID token issued or refused (never the token itself).
id_token_events = sa.Table(
    "id_token_events",
    metadata,
    sa.Column("cursor", CURSOR, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Double(), nullable=False),
    sa.Column("job_id", ID, nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("run_id", ID, nullable=False),
    sa.Column("agent_id", ID, nullable=False),
    sa.Column("audience", sa.String(256), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),  # issued | refused
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("policy_hash", sa.String(128), nullable=False),
    sa.Column("jti", sa.String(64), nullable=True),
    sa.Column("kid", sa.String(64), nullable=True),
    sa.Column("expires_at", sa.Double(), nullable=True),
)
sa.Index("ix_id_token_events_job_id", id_token_events.c.job_id)
sa.Index("ix_id_token_events_run_id", id_token_events.c.run_id)

# Token revocations, published for relying parties at /.well-known/stockade-revocations.json.
revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # jti | job | run | agent | window
    sa.Column("value", sa.String(256), nullable=True),
    sa.Column("issued_after", sa.Double(), nullable=True),
    sa.Column("issued_before", sa.Double(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
)

# The secrets broker's store: values encrypted under the master key (AES-GCM, a fresh nonce per
# write, the associated data binding name and class).
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("class", sa.String(128), nullable=False),
    sa.Column("nonce", sa.LargeBinary(), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Column("last_used_at", sa.Double(), nullable=True),
)

# One lease per step's fetch: what was asked and granted, until when.
secret_leases = sa.Table(
    "secret_leases",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("job_id", ID, sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("run_id", ID, nullable=False),
    sa.Column("step", sa.Integer(), nullable=False),
    sa.Column("names", sa.Text(), nullable=False),  # JSON list: asked for
    sa.Column("granted", sa.Text(), nullable=False),  # JSON list: handed out
    sa.Column("jti", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("released_at", sa.Double(), nullable=True),
)
sa.Index("ix_secret_leases_job_id_attempt", secret_leases.c.job_id, secret_leases.c.attempt)

# Every secret granted or refused, by name (never the value).
secret_events = sa.Table(
    "secret_events",
    metadata,
    sa.Column("cursor", CURSOR, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Double(), nullable=False),
    sa.Column("job_id", ID, nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("run_id", ID, nullable=False),
    sa.Column("step", sa.Integer(), nullable=False),
    sa.Column("lease_id", ID, nullable=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("class", sa.String(128), nullable=True),
    sa.Column("decision", sa.String(16), nullable=False),  # granted | refused
    sa.Column("reason", sa.Text(), nullable=False),
)
sa.Index("ix_secret_events_job_id", secret_events.c.job_id)

# Holds and releases of job logs (fail-closed masking), who and when.
log_hold_events = sa.Table(
    "log_hold_events",
    metadata,
    sa.Column("cursor", CURSOR, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Double(), nullable=False),
    sa.Column("job_id", ID, sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # hold | release
    sa.Column("actor", sa.String(128), nullable=False),  # the agent id, or the admin's name
)
