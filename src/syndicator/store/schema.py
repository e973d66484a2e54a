"""Tables (SQLAlchemy Core). Alembic migrations under migrations/ create them; keep both in step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

TOKEN_CHARS = 512  # outbox.token: a confirmation mail's signed token

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (naive text) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


categories = Table(
    "categories",
    metadata,
    Column("slug", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # Bumped whenever an article enters, leaves or changes in this category: the feed watcher's cue.
    Column("changed_at", UTCDateTime(), nullable=False),
    # +1 at every change: unlike a time, two changes can never carry the same value
    Column("revision", Integer, nullable=False, server_default="0"),
    Index(None, "changed_at"),
)

# Each spelling of a category's name with the number of articles (not withdrawn) spelling it so:
# categories.name is the best of them (store/categories.py). Rows are kept at zero: `id` is the order
# in which spellings were first seen, the last tie-break.
category_spellings = Table(
    "category_spellings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slug", String(80), ForeignKey("categories.slug"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("articles", Integer, nullable=False),
    UniqueConstraint("slug", "name"),
)

articles = Table(
    "articles",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("category_slug", String(80), ForeignKey("categories.slug"), nullable=False),
    # the category as this article spells it: what the category's shown name is chosen from
    Column("category_name", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("author", Text),
    Column("office", Text),
    Column("summary", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("url", Text),
    Column("status", String(16), nullable=False),
    Column("content_hash", String(32), nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
    # When readers could first see it: max(published_at, created_at). Notifications select on this,
    # so an article imported late with an old date is still announced, and an edit is not news.
    Column("available_at", UTCDateTime(), nullable=False),
    Index(None, "category_slug", "published_at"),
    Index(None, "available_at"),
    # the visibility rule (status, published_at) with the feeds' order: counts and newest-first reads
    # of a channel stay on the index at 100,000 articles
    Index(None, "status", "published_at", "id"),
    Index(None, "status", "category_slug", "published_at", "id"),
    Index(None, "published_at"),
    Index(None, "changed_at"),
    # what changed lately in one category: the archive's look for articles newly out of a feed
    Index(None, "category_slug", "changed_at"),
)

# Rendered feeds, kept so a restart (or another instance) serves the same bytes and ETags.
rendered_feeds = Table(
    "rendered_feeds",
    metadata,
    Column("path", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("etag", String(80), nullable=False),
    Column("last_modified", UTCDateTime(), nullable=False),
    Column("media_type", String(80), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("body_gzip", LargeBinary, nullable=False),
    Column("built_at", UTCDateTime(), nullable=False),
    Column("generation", Integer, nullable=False),
    Index(None, "built_at"),
)

# Files seen in the drop folder: what each held, so a change is imported once, a failure reported
# once per change of the file, and a removal withdraws exactly the articles the file brought.
drop_files = Table(
    "drop_files",
    metadata,
    Column("path", String(1000), primary_key=True),  # relative to the drop folder
    Column("mtime_ns", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("article_ids", Text, nullable=False),  # JSON list
    Column("error", Text),
    Column("seen_at", UTCDateTime(), nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),  # casefolded: one person, one row
    Column("name", String(200)),
    Column("status", String(16), nullable=False),  # pending | confirmed | unsubscribed | bounced
    Column("source", String(16), nullable=False),  # config | cli | import | web
    Column("categories", Text, nullable=False),  # "*" (all) or comma-separated slugs
    Column("frequency", String(16), nullable=False),  # immediate | daily | weekly
    Column("hard_bounces", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime()),
    Column("confirmed_ip", String(64)),
    Column("unsubscribed_at", UTCDateTime()),
    Column("language", String(8), nullable=False, server_default="vi"),  # of their mail: i18n.LANGUAGES
    Index(None, "status", "frequency"),
)

# Each subscriber's status over time (issue 14, the console): one row per change of subscribers.status,
# written with the change; what the console's history and its daily counts by status read. No address,
# name or IP: the row names the subscriber, the status it moved to and what moved it (`cause`: the
# source of a subscription, config | cli | import | web, or unsubscribe | bounce | unlist). Deleted with
# the subscriber (subscribers.forget).
subscriber_events = Table(
    "subscriber_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cause", String(16), nullable=False),
    Index(None, "subscriber_id", "at"),
    Index(None, "at"),
)

# The addresses the office's officials file lists. While listed, the subscriber row carries the office's
# entry; the resident's own subscription waits here (own_*) and is put back when the office unlists the
# address. own_status NULL: the row exists only for the office, so unlisting ends it.
officials = Table(
    "officials",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), primary_key=True),
    Column("listed_at", UTCDateTime(), nullable=False),
    Column("own_status", String(16)),
    Column("own_source", String(16)),
    Column("own_name", String(200)),
    Column("own_categories", Text),
    Column("own_frequency", String(16)),
    Column("own_confirmed_at", UTCDateTime()),
    Column("own_confirmed_ip", String(64)),
    Column("own_unsubscribed_at", UTCDateTime()),
)

# One row per (frequency, window end): whichever instance or command gets there first owns the run.
digest_runs = Table(
    "digest_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("frequency", String(16), nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # queuing | queued
    Column("created_at", UTCDateTime(), nullable=False),
    Column("queued_at", UTCDateTime()),
    Column("mails", Integer, nullable=False, default=0),
    UniqueConstraint("frequency", "window_end"),
)

# A rendered mail shared by every recipient of the same content (one digest per category choice,
# one announcement per article); per-recipient parts are substituted at send time.
mail_bodies = Table(
    "mail_bodies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("subject", Text, nullable=False),
    Column("mime", LargeBinary, nullable=False),  # headers + body with placeholders, CRLF
    # what it is written in: a digest's count ("3 new articles") is filled per recipient in it
    Column("language", String(8), nullable=False, server_default="vi"),
    Column("created_at", UTCDateTime(), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # digest | immediate | confirm
    Column("run_id", Integer, ForeignKey("digest_runs.id")),
    Column("article_id", String(128)),
    Column("token", String(TOKEN_CHARS)),  # a confirmation mail: its signed token (one mail per request)
    Column("body_id", Integer, ForeignKey("mail_bodies.id"), nullable=False),
    Column("parts", Text),  # a digest: the category slugs whose parts (digest_parts) it carries
    Column("status", String(16), nullable=False),  # pending | sending | sent | failed | cancelled
    Column("claimed_at", UTCDateTime()),  # when a sender took it
    # who holds a `sending` row (mail/lease.py: machine, process, pass) and until when: a live sender
    # renews its lease, so only rows of a sender that is gone are ever queued again
    Column("claimed_by", String(128)),
    Column("lease_until", UTCDateTime()),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    UniqueConstraint("subscriber_id", "run_id"),
    UniqueConstraint("subscriber_id", "article_id"),
    UniqueConstraint("subscriber_id", "token"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "created_at"),  # the purge of old mails (mail.keep_days)
)

# A digest is one frame (mail_bodies) plus one rendered, encoded part per category with news; each
# mail joins the frame with the parts its recipient chose, so nothing is rendered per subscriber.
digest_parts = Table(
    "digest_parts",
    metadata,
    Column("body_id", Integer, ForeignKey("mail_bodies.id"), primary_key=True),
    Column("slug", String(80), primary_key=True),
    Column("articles", Integer, nullable=False),
    Column("text_qp", LargeBinary, nullable=False),
    Column("html_qp", LargeBinary, nullable=False),
)

# Every delivery attempt of a mail (issue 14, the console): its outcome and the server's reply, written
# in the transaction that marks the outbox row. Attempts go with their mail (purge, forget): cascade.
MAIL_REPLY_CHARS = 500  # a server's reply, cut: it is for reading, and some servers say a lot
mail_attempts = Table(
    "mail_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),  # sent | retry | failed | bounced
    Column("code", Integer),  # the SMTP reply code, when a server replied
    Column("reply", String(MAIL_REPLY_CHARS)),
    Column("claimant", String(128)),  # the sender pass (mail/lease.py) that made the attempt
    Index(None, "outbox_id"),
    Index(None, "at", "outcome"),
)

# Small named values the jobs keep between runs (cursors), shared by every instance.
job_state = Table(
    "job_state",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# RFC 5005 archive pages (publish/builder.py): the page each article of a channel (a category's slug,
# or "all") was put on when it left the channel's subscription feed. Pages fill up one after the other
# and are never re-cut: a full page keeps its articles, a withdrawn one only leaves it.
archive_entries = Table(
    "archive_entries",
    metadata,
    Column("feed_key", String(80), primary_key=True),
    Column("article_id", String(128), primary_key=True),
    Column("page", Integer, nullable=False),
    Index(None, "feed_key", "page"),
)

# The console (issue 14): its accounts, their server-side sessions (only a hash of each session id is
# kept), failed logins for throttling (by keyed hashes of the username and the address, pruned after the
# window), and the audit log of every change made in the console or by the CLI's admin commands.
accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # viewer | editor | admin
    Column("password_hash", String(256), nullable=False),  # Argon2id, PHC string
    Column("created_at", UTCDateTime(), nullable=False),
    Column("password_changed_at", UTCDateTime(), nullable=False),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),  # SHA-256 of the session id
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Index(None, "account_id"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username_key", String(64), nullable=False),
    Column("address_key", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index(None, "username_key", "at"),
    Index(None, "address_key", "at"),
    Index(None, "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200)),
    Column("detail", Text),
    Column("address", String(64)),
    Index(None, "at"),
)

# Feed readership (issue 14, store/readership.py): polls of a feed document per day of the site's
# calendar and client family (readership.py's fixed list), added to by every instance's flush; the
# latest subscriber count an aggregator of that family reported that day. Never an address or a
# User-Agent: the family is all that is kept of a client.
feed_readership = Table(
    "feed_readership",
    metadata,
    Column("feed", String(200), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("client", String(32), primary_key=True),
    Column("polls", BigInteger, nullable=False),
    Column("not_modified", BigInteger, nullable=False),
    Column("reported_subscribers", Integer),
    Column("reported_at", UTCDateTime()),
    Index(None, "day"),
)

# The scheduler's jobs (issue 14, store/jobruns.py): each job's runs as the leading instance saw
# them, and which instances ran a scheduler, the leader among them and since when.
job_runs = Table(
    "job_runs",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("instance", String(200), primary_key=True),
    Column("runs", BigInteger, nullable=False),
    Column("failures", BigInteger, nullable=False),
    Column("last_started_at", UTCDateTime()),
    Column("last_seconds", Float),
    Column("last_ok", Boolean),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime()),
    Column("next_run_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
)

job_instances = Table(
    "job_instances",
    metadata,
    Column("instance", String(200), primary_key=True),
    Column("leading", Boolean, nullable=False),
    Column("leading_since", UTCDateTime()),
    Column("seen_at", UTCDateTime(), nullable=False),
)
