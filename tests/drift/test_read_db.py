"""Reading the usage log: rows written by the real usage-log writer, read back from SQLite
and PostgreSQL, give the same report as the rows built by hand; a column added to
``usage_log`` later (``canary_version``) changes nothing."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.drift.read_db import rows_between
from engine.drift.report import Thresholds, Window, build
from engine.drift.tally import Tally
from tests.drift.builders import AT, SINCE, policy, tally_of, week
from tests.state.conftest import Backend


async def _add_canary_column(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        columns = await conn.run_sync(lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("usage_log")})
        if "canary_version" not in columns:
            await conn.execute(sa.text("ALTER TABLE usage_log ADD COLUMN canary_version TEXT"))


async def test_the_usage_log_reads_back_as_written(backend: Backend, tmp_path: Path) -> None:
    current = policy(tmp_path)
    records = week(current.version)
    engine = backend.engine()
    try:
        await _add_canary_column(engine)
        state = await backend.open()
        state.gate.record(records)
        await state.close()
        tally = Tally(current)
        async for row in rows_between(engine, SINCE, AT):
            tally.add(row)
    finally:
        await engine.dispose()
    window = Window(SINCE, AT)
    read = build(tally, window, Thresholds(), "policies")
    assert read == build(tally_of(current, records), window, Thresholds(), "policies")
    assert (read["requests"], read["attempts"], read["flagged"]) == (27, 44, 6)
