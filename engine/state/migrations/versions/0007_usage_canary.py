"""The canary a request was sent to: ``usage_log.canary_version`` (``engine.canary``).

Set on every row of a request the canary served or that the stable policy rescued from
it; NULL otherwise and on rows written before this revision. The canary's statistics read
it through ``ix_usage_log_canary`` (canary version, time). Nullable with no default: adding
it rewrites no row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("usage_log", sa.Column("canary_version", sa.Text, nullable=True))
    op.create_index("ix_usage_log_canary", "usage_log", ["canary_version", "at"])


def downgrade() -> None:
    op.drop_index("ix_usage_log_canary", table_name="usage_log")
    if op.get_bind().dialect.name == "sqlite":  # native since SQLite 3.35 (see 0002)
        op.execute("ALTER TABLE usage_log DROP COLUMN canary_version")
    else:
        op.drop_column("usage_log", "canary_version")
