"""The state tables (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Money columns are ``*_micros`` integers (see ``engine.state.money``); timestamps are
timezone-aware UTC on the way in and out (``UtcDateTime``); JSON columns hold lists of
strings. The Alembic migrations in ``engine.state.migrations`` create exactly these tables
(a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()

# An autoincrementing 64-bit id that SQLite still treats as its rowid alias.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes; SQLite stores them naive (in UTC), PostgreSQL as timestamptz."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: state timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


meta = sa.Table(
    "turnout_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("int_value", sa.BigInteger, nullable=True),
    sa.Column("text_value", sa.Text, nullable=True),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("prepaid", sa.Boolean, nullable=False),
    sa.Column("balance_micros", sa.BigInteger, nullable=False),  # sum of its ledger rows
    sa.Column("reserved_micros", sa.BigInteger, nullable=False),  # holds of in-flight requests
    sa.Column("created_at", UtcDateTime, nullable=False),
    # cost its prepaid balance could not cover and no credit has paid yet: sum of its ledger
    # rows' overrun_micros; a prepaid account is refused while it is above zero
    sa.Column("arrears_micros", sa.BigInteger, nullable=False, server_default="0"),
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # credit | charge | arrears (a credit paying overruns)
    sa.Column("amount_micros", sa.BigInteger, nullable=False),  # credits > 0, charges and arrears < 0
    sa.Column("key_id", sa.String(64), nullable=True),
    sa.Column("reservation_id", sa.String(64), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    # charge: the cost not charged (> 0, an overrun); arrears: the overrun paid (< 0)
    sa.Column("overrun_micros", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_ledger_account_id", "account_id", "id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("group_name", sa.String(128), nullable=False),
    sa.Column("models", sa.JSON, nullable=False),
    sa.Column("ip_allow", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("quota_micros", sa.BigInteger, nullable=True),  # lifetime spend cap
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("spend_micros", sa.BigInteger, nullable=False),
    sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),  # bumped on every change
)

# Callers' own provider keys (BYOK), sealed by ``engine.byok.vault``; one per key and channel.
byok_secrets = sa.Table(
    "byok_secrets",
    metadata,
    sa.Column("key_id", sa.String(64), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("key_fingerprint", sa.String(32), nullable=False),  # which vault key sealed it
    sa.Column("created_at", UtcDateTime, nullable=False),
)

key_spend = sa.Table(
    "key_spend",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("period", sa.String(10), primary_key=True),  # "2025-01-31" (day) or "2025-01"
    sa.Column("spend_micros", sa.BigInteger, nullable=False),
)

usage_log = sa.Table(
    "usage_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=True),  # None = the request row
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("day", sa.Date, nullable=False),  # UTC day of ``at``, for rollups
    sa.Column("account_id", sa.String(128), nullable=True),
    sa.Column("key_id", sa.String(64), nullable=True),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("model_requested", sa.Text, nullable=False),
    sa.Column("alias_rule", sa.Text, nullable=True),
    sa.Column("model_served", sa.Text, nullable=True),
    sa.Column("channel", sa.Text, nullable=True),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error_type", sa.Text, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("ttfb_ms", sa.Float, nullable=True),
    sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
    sa.Column("completion_tokens", sa.BigInteger, nullable=False),
    sa.Column("cached_tokens", sa.BigInteger, nullable=False),
    sa.Column("reasoning_tokens", sa.BigInteger, nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("policy_version", sa.Text, nullable=False),
    sa.Column("byok", sa.Boolean, nullable=False),
    sa.Column("estimated", sa.Boolean, nullable=False, server_default="0"),  # tokens counted by Turnout
    sa.Column("overrun_micros", sa.BigInteger, nullable=False, server_default="0"),  # cost not charged
    sa.Column("routing", sa.Text, nullable=True),  # request rows: routing facts as JSON (engine.replay.recorded)
    sa.Column("canary_version", sa.Text, nullable=True),  # the canary the request was sent to (engine.canary)
    sa.Index("ix_usage_log_at", "at"),
    sa.Index("ix_usage_log_canary", "canary_version", "at"),
    sa.Index("ix_usage_log_key_day", "key_id", "day"),
    sa.Index("ix_usage_log_account_day", "account_id", "day"),
)

# One row per (UTC day, account, key, model) for pruned usage; "" stands for none.
usage_daily = sa.Table(
    "usage_daily",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("account_id", sa.String(128), primary_key=True),
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("requests", sa.BigInteger, nullable=False),
    sa.Column("errors", sa.BigInteger, nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
    sa.Column("completion_tokens", sa.BigInteger, nullable=False),
    sa.Column("cached_tokens", sa.BigInteger, nullable=False),
    sa.Column("reasoning_tokens", sa.BigInteger, nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("estimated", sa.BigInteger, nullable=False, server_default="0"),  # requests with estimated tokens
    sa.Column("overrun_micros", sa.BigInteger, nullable=False, server_default="0"),
)

# Batch jobs (``engine.batch``): uploaded input files, jobs and each job's requests.
batch_files = sa.Table(
    "batch_files",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),  # the key that uploaded it (``engine.batch.owner``)
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_batch_files_owner", "owner", "created_at"),
)

batch_jobs = sa.Table(
    "batch_jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("principal", sa.JSON, nullable=False),  # who runs it: key id, name, account, group, tags, models
    sa.Column("api", sa.String(16), nullable=False),  # "openai" (Batches API) or "seed" (/v1/batch)
    sa.Column("endpoint", sa.String(64), nullable=False),  # the client endpoint each request speaks
    sa.Column("input_file_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("meta", sa.JSON, nullable=True),
    sa.Column("callback_url", sa.Text, nullable=True),
    sa.Column("callback_secret", sa.String(80), nullable=True),
    sa.Column("callback_state", sa.String(16), nullable=False),  # none | pending | delivered | failed
    sa.Column("callback_attempts", sa.Integer, nullable=False),
    sa.Column("callback_next_at", UtcDateTime, nullable=True),
    sa.Column("callback_error", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("in_progress_at", UtcDateTime, nullable=True),
    sa.Column("finalizing_at", UtcDateTime, nullable=True),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    sa.Column("cancelling_at", UtcDateTime, nullable=True),
    sa.Column("cancelled_at", UtcDateTime, nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Index("ix_batch_jobs_owner", "owner", "created_at"),
    sa.Index("ix_batch_jobs_status", "status"),
    sa.Index("ix_batch_jobs_callback", "callback_state", "callback_next_at"),
)

batch_requests = sa.Table(
    "batch_requests",
    metadata,
    sa.Column("job_id", sa.String(64), sa.ForeignKey("batch_jobs.id"), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),  # its line in the input, from 0
    sa.Column("custom_id", sa.Text, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | running | done | cancelled
    sa.Column("status_code", sa.Integer, nullable=True),  # the answer's HTTP status (done)
    sa.Column("response", sa.JSON, nullable=True),  # the answer's body (done)
    sa.Column("request_id", sa.String(128), nullable=True),  # its usage rows' request id
    sa.Column("claimed_by", sa.String(64), nullable=True),  # the runner sending it (running)
    sa.Column("lease_until", UtcDateTime, nullable=True),  # running: another runner may reap it after
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Index("ix_batch_requests_state", "state", "job_id"),
)

# Console logins (``engine.console``): a person who signs in, owning one billing account.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),  # lower-cased
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id, PHC string
    sa.Column("role", sa.String(16), nullable=False),  # user | admin
    sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False, unique=True),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# Console sessions (cookie) and account tokens (bearer, for scripts); only a SHA-256 of each is kept.
user_sessions = sa.Table(
    "user_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # session | token
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Index("ix_user_sessions_user_id", "user_id"),
)

# Top-ups through a payment provider; the manual (invoice) provider's stay pending until an admin confirms.
topups = sa.Table(
    "topups",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("amount_micros", sa.BigInteger, nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | confirmed | cancelled
    sa.Column("reference", sa.Text, nullable=False),  # what the payer quotes (invoice number)
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("settled_at", UtcDateTime, nullable=True),
    sa.Column("settled_by", sa.String(64), nullable=True),
    sa.Index("ix_topups_account_id", "account_id"),
)

# Invitations (registration mode "invite"): a SHA-256 of the code, used at most once.
invites = sa.Table(
    "invites",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("used_by", sa.String(64), nullable=True),
    sa.Column("used_at", UtcDateTime, nullable=True),
)

# A key's free-text label as its owner typed it (the key store's names are identifiers).
key_labels = sa.Table(
    "key_labels",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
)
