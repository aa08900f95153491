"""identity and secrets: signing keys, token audit, revocations, secrets, leases, held logs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CURSOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = sa.String(length=40)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("log_held", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("retired_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "id_token_events",
        sa.Column("cursor", CURSOR, autoincrement=True, nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("audience", sa.String(length=256), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("policy_hash", sa.String(length=128), nullable=False),
        sa.Column("jti", sa.String(length=64), nullable=True),
        sa.Column("kid", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("cursor", name=op.f("pk_id_token_events")),
    )
    op.create_index("ix_id_token_events_job_id", "id_token_events", ["job_id"])
    op.create_index("ix_id_token_events_run_id", "id_token_events", ["run_id"])
    op.create_table(
        "revocations",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=True),
        sa.Column("issued_after", sa.Double(), nullable=True),
        sa.Column("issued_before", sa.Double(), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocations")),
    )
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("class", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("last_used_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secrets")),
    )
    op.create_table(
        "secret_leases",
        sa.Column("id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("granted", sa.Text(), nullable=False),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("released_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"],
                                name=op.f("fk_secret_leases_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_leases")),
    )
    op.create_index("ix_secret_leases_job_id_attempt", "secret_leases", ["job_id", "attempt"])
    op.create_table(
        "secret_events",
        sa.Column("cursor", CURSOR, autoincrement=True, nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("lease_id", ID, nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("class", sa.String(length=128), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("cursor", name=op.f("pk_secret_events")),
    )
    op.create_index("ix_secret_events_job_id", "secret_events", ["job_id"])
    op.create_table(
        "log_hold_events",
        sa.Column("cursor", CURSOR, autoincrement=True, nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"],
                                name=op.f("fk_log_hold_events_job_id_jobs")),
        sa.PrimaryKeyConstraint("cursor", name=op.f("pk_log_hold_events")),
    )


def downgrade() -> None:
    op.drop_table("log_hold_events")
    op.drop_index("ix_secret_events_job_id", table_name="secret_events")
    op.drop_table("secret_events")
    op.drop_index("ix_secret_leases_job_id_attempt", table_name="secret_leases")
    op.drop_table("secret_leases")
    op.drop_table("secrets")
    op.drop_table("revocations")
    op.drop_index("ix_id_token_events_run_id", table_name="id_token_events")
    op.drop_index("ix_id_token_events_job_id", table_name="id_token_events")
    op.drop_table("id_token_events")
    op.drop_table("signing_keys")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("log_held")
