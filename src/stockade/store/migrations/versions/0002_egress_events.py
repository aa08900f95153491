"""egress events: every connection a job's proxy allowed or denied

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CURSOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "egress_events",
        sa.Column("cursor", CURSOR, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=512), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("would_deny", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("rule", sa.String(length=512), nullable=True),
        sa.Column("bytes_up", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("bytes_down", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("duration_s", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"],
                                name=op.f("fk_egress_events_job_id_jobs")),
        sa.PrimaryKeyConstraint("cursor", name=op.f("pk_egress_events")),
    )
    op.create_index("ix_egress_events_run_id", "egress_events", ["run_id"], unique=False)
    op.create_index("ix_egress_events_job_id_attempt", "egress_events", ["job_id", "attempt"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_egress_events_job_id_attempt", table_name="egress_events")
    op.drop_index("ix_egress_events_run_id", table_name="egress_events")
    op.drop_table("egress_events")
