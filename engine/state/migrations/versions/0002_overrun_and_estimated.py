"""Overruns and estimated usage: arrears on accounts, overrun on ledger and usage rows, estimated usage rows.

* ``accounts.arrears_micros``: cost a prepaid balance could not cover, not yet paid by a credit.
* ``ledger.overrun_micros``: per charge row the cost not charged; per ``arrears`` row the part
  of a credit that paid it (negative), so ``arrears_micros`` is the sum of the rows.
* ``usage_log.estimated`` / ``usage_log.overrun_micros`` and their ``usage_daily`` rollups.

Every column is NOT NULL with a constant default, so existing rows need no rewrite
(PostgreSQL 11+ and SQLite add such a column without touching the table's rows).

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _micros(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=False, server_default="0")


# Plain ADD COLUMN on both databases. On SQLite a string default ("0", which PostgreSQL also
# reads as a boolean) keeps Alembic from copying the whole table, as it would for sa.false().
_ADDED = (
    ("accounts", _micros("arrears_micros")),
    ("ledger", _micros("overrun_micros")),
    ("usage_log", sa.Column("estimated", sa.Boolean, nullable=False, server_default="0")),
    ("usage_log", _micros("overrun_micros")),
    ("usage_daily", _micros("estimated")),
    ("usage_daily", _micros("overrun_micros")),
)


def upgrade() -> None:
    for table, column in _ADDED:
        op.add_column(table, column)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in reversed(_ADDED):
        if sqlite:  # native since SQLite 3.35; Alembic would rebuild the table, which foreign keys forbid
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column.name}")
        else:
            op.drop_column(table, column.name)
