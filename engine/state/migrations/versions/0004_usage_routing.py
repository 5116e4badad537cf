"""Routing facts on usage rows: ``usage_log.routing``, for ``turnout replay`` and ``turnout diff``.

A request row keeps, as JSON text, the facts the planner read (``engine.replay.recorded``):
never prompt or output text, never credential headers. Attempt rows and rows written before
this revision hold NULL. The column is nullable with no default, so adding it rewrites no
row on PostgreSQL or SQLite; pruning drops it with the rows (rollups keep no facts).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("usage_log", sa.Column("routing", sa.Text, nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # native since SQLite 3.35 (see 0002)
        op.execute("ALTER TABLE usage_log DROP COLUMN routing")
    else:
        op.drop_column("usage_log", "routing")
