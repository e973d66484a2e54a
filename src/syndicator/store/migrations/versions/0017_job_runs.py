"""The scheduler's jobs: each job's last run, duration and last error, and who leads (issue 14, the console).

New tables only. Downgrade drops them (the history of runs is lost; older code keeps none).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syndicator.store.schema import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("instance", sa.String(200), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("last_started_at", UTCDateTime(), nullable=True),
        sa.Column("last_seconds", sa.Float(), nullable=True),
        sa.Column("last_ok", sa.Boolean(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job", "instance", name="pk_job_runs"),
    )
    op.create_table(
        "job_instances",
        sa.Column("instance", sa.String(200), nullable=False),
        sa.Column("leading", sa.Boolean(), nullable=False),
        sa.Column("leading_since", UTCDateTime(), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("instance", name="pk_job_instances"),
    )


def downgrade() -> None:
    op.drop_table("job_instances")
    op.drop_table("job_runs")
