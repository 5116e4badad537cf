"""The usage log's fast writers store exactly what ``sa.insert(usage_log)`` stores, on both backends.

Each test writes the same records twice, once through ``UsageLog`` (SQLite: multi-row
INSERTs from the log's own thread; PostgreSQL: COPY) and once through the SQLAlchemy
insert the log used to run, then reads both back: raw from the driver (on SQLite with each
value's storage class), through ``sa.select(usage_log)``, through ``at`` comparisons and
through the usage reports.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from engine.access import UsageRecord
from engine.state.money import usd_to_micros
from engine.state.schema import usage_log
from engine.state.state import State
from engine.state.usage_log import COLUMNS, UsageLog, cost_micros, insert_sqlalchemy
from engine.state.usage_report import UsageQuery, usage_rollups
from tests.replay.builders import routing_record
from tests.state.conftest import Backend, count_rows, usage

BASE = usage("0", datetime(2025, 3, 1, 10, 15, 30, 250_000, tzinfo=UTC), key_id="KEY")


def variety(key_id: str) -> list[UsageRecord]:
    """Records covering every conversion: time zones, naive and whole-second times, Nones,
    ints where floats are declared, half micro-dollars, large numbers, non-ASCII text."""
    minus_five = timezone(timedelta(hours=-5))
    plus_five_thirty = timezone(timedelta(hours=5, minutes=30))
    changes: list[dict[str, Any]] = [
        {},
        {"attempt": 0, "status": 502, "error_type": "upstream_error", "cost_usd": 0.0, "ttfb_ms": None},
        {"attempt": 1, "byok": True, "cost_usd": 0.0000005},  # half a micro: rounds to even (0)
        {"at": datetime(2025, 3, 1, 23, 30, tzinfo=minus_five), "cost_usd": 0.0000015},  # UTC day is 2 March
        {"at": datetime(2025, 3, 2, 1, 0, 0, 7, tzinfo=plus_five_thirty), "cost_usd": 12345.678901},  # 1 March
        {"at": datetime(2025, 3, 1, 12, 0), "cost_usd": 1},  # naive: taken as UTC; whole second
        {"account_id": None, "alias_rule": None, "model_served": None, "channel": None, "cost_usd": 0.1 + 0.2},
        {"latency_ms": 7, "ttfb_ms": 0.1 + 0.2, "prompt_tokens": 2**40, "status": 429, "cost_usd": 2.5e-6},
        {"model_requested": "modèle-✓", "endpoint": "/v1/messages", "policy_version": "v2 ünïcode"},
        {"at": datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), "cost_usd": 999_999.999_999_5},
        {"estimated": True, "status": 499, "error_type": "client_disconnected", "cost_usd": 0.000321},
        {"overrun_usd": 1.25, "cost_usd": 0.5},  # a prepaid balance covered $0.50 of $1.75
        {"estimated": True, "overrun_usd": 0.1 + 0.2, "cost_usd": 0.0},  # nothing left to charge
        {"overrun_usd": 0.0000005, "cost_usd": 0.0000015},  # half micros: both round to even
        {"overrun_usd": 123_456.789_012, "estimated": False, "byok": True},
        {"routing": routing_record()},  # routing facts as JSON text (non-ASCII metadata included)
    ]
    return [BASE._replace(request_id=f"{key_id}-{i}", key_id=key_id, **change) for i, change in enumerate(changes)]


def aware(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def raw_rows(state: State, key_id: str) -> dict[str, tuple[Any, ...]]:
    """Stored values by request number, as the driver returns them (SQLite: with typeof())."""
    sqlite = state.engine.dialect.name == "sqlite"
    columns = [c for c in COLUMNS if c != "request_id"]
    selected = ", ".join(f"typeof({c}), {c}" if sqlite else c for c in columns)
    placeholder = "?" if sqlite else "$1"
    async with state.engine.connect() as conn:
        result = await conn.exec_driver_sql(
            f"SELECT request_id, {selected} FROM usage_log WHERE key_id = {placeholder}", (key_id,)
        )
        return {row[0].split("-", 1)[1]: tuple(row[1:]) for row in result.all()}


async def typed_rows(state: State, key_id: str) -> dict[str, dict[str, Any]]:
    async with state.engine.connect() as conn:
        rows = (await conn.execute(sa.select(usage_log).where(usage_log.c.key_id == key_id))).mappings().all()
    return {
        row["request_id"].split("-", 1)[1]: {k: v for k, v in row.items() if k not in ("id", "request_id", "key_id")}
        for row in rows
    }


async def test_fast_writer_stores_what_the_sqlalchemy_insert_stores(state: State) -> None:
    threads_before = sum(t.name.startswith("turnout-usage") for t in threading.enumerate())
    log = UsageLog(state.engine, flush_interval=3600)
    log.record(variety("fast"))
    await log.close()
    await insert_sqlalchemy(state.engine, variety("ref"))
    assert sum(t.name.startswith("turnout-usage") for t in threading.enumerate()) == threads_before

    raw_fast, raw_ref = await raw_rows(state, "fast"), await raw_rows(state, "ref")
    assert len(raw_fast) == len(variety("x"))
    assert raw_fast == {k: tuple("fast" if v == "ref" else v for v in row) for k, row in raw_ref.items()}
    if state.engine.dialect.name == "sqlite":  # spot-check the storage format itself
        at_index = 2 * (COLUMNS.index("at") - 1)
        assert raw_fast["3"][at_index : at_index + 4] == ("text", "2025-03-02 04:30:00.000000", "text", "2025-03-02")

    typed_fast, typed_ref = await typed_rows(state, "fast"), await typed_rows(state, "ref")
    assert typed_fast == typed_ref
    for number, record in enumerate(variety("fast")):
        row = typed_fast[str(number)]
        assert row["at"] == aware(record.at) and row["at"].tzinfo == UTC
        assert row["day"] == aware(record.at).date() and isinstance(row["day"], date)
        assert row["cost_micros"] == usd_to_micros(record.cost_usd) and row["byok"] is record.byok
        assert row["overrun_micros"] == usd_to_micros(record.overrun_usd)
        assert row["estimated"] is record.estimated
    assert {n for n, r in typed_fast.items() if r["estimated"]} == {"10", "12"}
    assert typed_fast["11"]["overrun_micros"] == 1_250_000 and typed_fast["13"]["overrun_micros"] == 0

    instants = sorted(aware(r.at) for r in variety("fast"))
    async with state.engine.connect() as conn:  # SQL comparisons see the same instants
        for at in instants:
            count = sa.select(sa.func.count()).select_from(usage_log)
            assert (await conn.execute(count.where(usage_log.c.at == at))).scalar_one() == 2 * instants.count(at)
            earlier = sum(1 for other in instants if other < at)
            assert (await conn.execute(count.where(usage_log.c.at < at))).scalar_one() == 2 * earlier

    for query in (UsageQuery(), UsageQuery(since=date(2025, 3, 2)), UsageQuery(until=date(2025, 3, 1))):
        fast = await usage_rollups(state.engine, UsageQuery(query.since, query.until, key_id="fast"))
        ref = await usage_rollups(state.engine, UsageQuery(query.since, query.until, key_id="ref"))
        assert fast and [{**r.to_json(), "key_id": ""} for r in fast] == [{**r.to_json(), "key_id": ""} for r in ref]


async def test_batches_of_every_size_are_written_once(state: State) -> None:
    log = UsageLog(state.engine, flush_interval=3600, max_batch=300)
    now = datetime.now(UTC)
    sizes = [1, 2, 31, 32, 33, 127, 128, 129, 300, 301, 555]
    try:
        for size in sizes:
            log.record([BASE._replace(request_id=f"{size}-{i}", at=now) for i in range(size)])
            await log.flush()
    finally:
        await log.close()
    async with state.engine.connect() as conn:
        ids = (await conn.execute(sa.select(usage_log.c.request_id))).scalars().all()
    assert sorted(ids) == sorted(f"{size}-{i}" for size in sizes for i in range(size))


async def test_a_row_that_cannot_be_stored_is_dropped_alone(state: State, caplog: pytest.LogCaptureFixture) -> None:
    log = UsageLog(state.engine, flush_interval=3600)
    good = [BASE._replace(request_id=f"ok-{i}") for i in range(3)]
    log.record([good[0], BASE._replace(request_id="nan", cost_usd=math.nan), *good[1:]])  # no error on record
    with caplog.at_level(logging.ERROR, logger="engine.state.usage_log"):
        await log.close()
    assert "usage row of request nan dropped" in caplog.text
    async with state.engine.connect() as conn:
        ids = (await conn.execute(sa.select(usage_log.c.request_id))).scalars().all()
    assert sorted(ids) == ["ok-0", "ok-1", "ok-2"]


async def test_a_failed_write_keeps_the_rows_for_the_next_flush(state: State) -> None:
    log = UsageLog(state.engine, flush_interval=3600)
    log.record([BASE._replace(request_id=f"r{i}") for i in range(40)])
    async with state.engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE usage_log RENAME TO usage_log_away")
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a missing table
            await log.flush()
        assert log.pending == 40
    finally:
        async with state.engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE usage_log_away RENAME TO usage_log")
    await log.close()
    assert log.pending == 0 and await count_rows(state.engine, usage_log) == 40


async def test_sqlite_write_cancelled_while_waiting_for_the_lock_is_rolled_back(sqlite_backend: Backend) -> None:
    state = await sqlite_backend.open()
    blocker = sqlite3.connect(str(sqlite_backend.data_dir / "turnout.db"), isolation_level=None)
    try:
        log = UsageLog(state.engine, flush_interval=3600)
        log.record([BASE._replace(request_id=f"r{i}") for i in range(50)])
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        flushing = asyncio.create_task(log.flush())
        await asyncio.sleep(0.2)
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(flushing, 2)  # gives up waiting for the lock at once
        blocker.execute("ROLLBACK")
        assert log.pending == 50 and await count_rows(state.engine, usage_log) == 0
        await log.close()
        assert await count_rows(state.engine, usage_log) == 50
    finally:
        blocker.close()
        await state.close()


def test_cost_micros_is_usd_to_micros() -> None:
    rng = random.Random(20250301)
    values: list[float] = [
        0.0, -0.0, 5e-324, 1e-12, 5e-7, 1.5e-6, 2.5e-6, 1.0000005, 0.1 + 0.2, 0.000123, 12345.678901,
        999_999.999_999_5, 1e6 - 5e-7, 499_999.999_999_5, 1e12 - 0.5, 1e12, 1e15, 1.7976931348623157e308,
    ]  # fmt: skip
    values += [rng.uniform(0, 10) for _ in range(20_000)]
    values += [round(rng.uniform(0, 1000), 7) for _ in range(20_000)]  # seven decimals: many half micros
    values += [(k + 0.5) / 1e6 for k in range(0, 10_000_000, 997)]
    values += [rng.uniform(0, 2e6) for _ in range(5_000)]
    values += [-v for v in values[:5_000]]
    values += [math.nan, math.inf, -math.inf]
    for value in values:
        assert outcome(cost_micros, value) == outcome(usd_to_micros, value), value
    for exact in (1, 10**15, Decimal("0.0000005")):
        assert cost_micros(exact) == usd_to_micros(exact)  # type: ignore[arg-type]


def outcome(convert: Callable[[float], int], value: float) -> int | str:
    try:
        return convert(value)
    except Exception as exc:  # the same error, not merely an error
        return type(exc).__name__
