"""Subscribers, digest runs, mail bodies, the outbox, job state; articles.available_at.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syndicator.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("available_at", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE articles SET available_at = CASE WHEN created_at > published_at "
        "THEN created_at ELSE published_at END"
    )
    with op.batch_alter_table("articles") as batch:
        batch.alter_column("available_at", existing_type=UTCDateTime(), nullable=False)
    op.create_index("ix_articles_available_at", "articles", ["available_at"])

    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("hard_bounces", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime()),
        sa.Column("confirmed_ip", sa.String(64)),
        sa.Column("unsubscribed_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("email_key", name="uq_subscribers_email_key"),
    )
    op.create_index("ix_subscribers_status_frequency", "subscribers", ["status", "frequency"])
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("queued_at", UTCDateTime()),
        sa.Column("mails", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_digest_runs"),
        sa.UniqueConstraint("frequency", "window_end", name="uq_digest_runs_frequency_window_end"),
    )
    op.create_table(
        "mail_bodies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("mime", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mail_bodies"),
        sa.UniqueConstraint("key", name="uq_mail_bodies_key"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.Column("article_id", sa.String(128)),
        sa.Column("token", sa.String(512)),
        sa.Column("body_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name="fk_outbox_subscriber_id_subscribers"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["digest_runs.id"], name="fk_outbox_run_id_digest_runs"),
        sa.ForeignKeyConstraint(["body_id"], ["mail_bodies.id"], name="fk_outbox_body_id_mail_bodies"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("subscriber_id", "run_id", name="uq_outbox_subscriber_id_run_id"),
        sa.UniqueConstraint("subscriber_id", "article_id", name="uq_outbox_subscriber_id_article_id"),
        sa.UniqueConstraint("subscriber_id", "token", name="uq_outbox_subscriber_id_token"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "job_state",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_job_state"),
    )


def downgrade() -> None:
    op.drop_table("job_state")
    op.drop_index("ix_outbox_status_next_attempt_at", "outbox")
    op.drop_table("outbox")
    op.drop_table("mail_bodies")
    op.drop_table("digest_runs")
    op.drop_index("ix_subscribers_status_frequency", "subscribers")
    op.drop_table("subscribers")
    op.drop_index("ix_articles_available_at", "articles")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("available_at")
