"""Console accounts: logins (users), their sessions and tokens, top-ups, invitations, key labels.

New tables only; nothing existing changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.state.schema import UtcDateTime

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False, unique=True),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "user_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_table(
        "topups",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount_micros", sa.BigInteger, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("settled_at", UtcDateTime, nullable=True),
        sa.Column("settled_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_topups_account_id", "topups", ["account_id"])
    op.create_table(
        "invites",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("used_by", sa.String(64), nullable=True),
        sa.Column("used_at", UtcDateTime, nullable=True),
    )
    op.create_table(
        "key_labels",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("key_labels", "invites", "topups", "user_sessions", "users"):
        op.drop_table(table)
