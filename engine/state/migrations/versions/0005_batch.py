"""Batch jobs: ``batch_files`` (uploaded JSONL inputs), ``batch_jobs`` and ``batch_requests``.

New tables only (``engine.batch`` reads and writes them); nothing existing is touched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.state.schema import UtcDateTime

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "batch_files",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_batch_files_owner", "batch_files", ["owner", "created_at"])
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("principal", sa.JSON, nullable=False),
        sa.Column("api", sa.String(16), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("input_file_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("meta", sa.JSON, nullable=True),
        sa.Column("callback_url", sa.Text, nullable=True),
        sa.Column("callback_secret", sa.String(80), nullable=True),
        sa.Column("callback_state", sa.String(16), nullable=False),
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
    )
    op.create_index("ix_batch_jobs_owner", "batch_jobs", ["owner", "created_at"])
    op.create_index("ix_batch_jobs_status", "batch_jobs", ["status"])
    op.create_index("ix_batch_jobs_callback", "batch_jobs", ["callback_state", "callback_next_at"])
    op.create_table(
        "batch_requests",
        sa.Column("job_id", sa.String(64), sa.ForeignKey("batch_jobs.id"), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("custom_id", sa.Text, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response", sa.JSON, nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("lease_until", UtcDateTime, nullable=True),
        sa.Column("finished_at", UtcDateTime, nullable=True),
    )
    op.create_index("ix_batch_requests_state", "batch_requests", ["state", "job_id"])


def downgrade() -> None:
    for table in ("batch_requests", "batch_jobs", "batch_files"):
        op.drop_table(table)
