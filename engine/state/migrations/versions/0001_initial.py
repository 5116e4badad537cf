"""Initial state schema: meta, accounts, ledger, api keys, key spend, usage log and rollups.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.state.schema import BigId, UtcDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "turnout_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("int_value", sa.BigInteger, nullable=True),
        sa.Column("text_value", sa.Text, nullable=True),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("prepaid", sa.Boolean, nullable=False),
        sa.Column("balance_micros", sa.BigInteger, nullable=False),
        sa.Column("reserved_micros", sa.BigInteger, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "ledger",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_micros", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("reservation_id", sa.String(64), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_ledger_account_id", "ledger", ["account_id", "id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("group_name", sa.String(128), nullable=False),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("ip_allow", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=True),
        sa.Column("quota_micros", sa.BigInteger, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("spend_micros", sa.BigInteger, nullable=False),
        sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "key_spend",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("spend_micros", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "usage_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
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
    )
    op.create_index("ix_usage_log_at", "usage_log", ["at"])
    op.create_index("ix_usage_log_key_day", "usage_log", ["key_id", "day"])
    op.create_index("ix_usage_log_account_day", "usage_log", ["account_id", "day"])
    op.create_table(
        "usage_daily",
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
    )


def downgrade() -> None:
    for table in ("usage_daily", "usage_log", "key_spend", "api_keys", "ledger", "accounts", "turnout_meta"):
        op.drop_table(table)
