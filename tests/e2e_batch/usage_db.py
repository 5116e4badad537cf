"""The usage rows a batch left in the gateway's embedded database (read with sqlite3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import NamedTuple


class UsageRow(NamedTuple):
    request_id: str
    status: int
    cost_micros: int
    endpoint: str


def request_rows(data_dir: Path, job_id: str) -> list[UsageRow]:
    """The request rows (one per request, attempts left out) of a job's requests."""
    with sqlite3.connect(data_dir / "turnout.db") as db:
        rows = db.execute(
            "SELECT request_id, status, cost_micros, endpoint FROM usage_log "
            "WHERE attempt IS NULL AND request_id LIKE ? ORDER BY id",
            (f"{job_id}-%",),
        ).fetchall()
    return [UsageRow(*row) for row in rows]
