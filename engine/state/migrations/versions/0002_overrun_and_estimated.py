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


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(_micros("arrears_micros"))
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(_micros("overrun_micros"))
    with op.batch_alter_table("usage_log") as batch:
        batch.add_column(sa.Column("estimated", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(_micros("overrun_micros"))
    with op.batch_alter_table("usage_daily") as batch:
        batch.add_column(_micros("estimated"))
        batch.add_column(_micros("overrun_micros"))


def downgrade() -> None:
    for table, columns in (
        ("usage_daily", ("overrun_micros", "estimated")),
        ("usage_log", ("overrun_micros", "estimated")),
        ("ledger", ("overrun_micros",)),
        ("accounts", ("arrears_micros",)),
    ):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)
