"""The usage log: batched off the request path, flushed on close, pruned into daily rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from engine.state.schema import usage_daily, usage_log
from engine.state.state import State
from engine.state.usage_log import UsageLog
from engine.state.usage_report import UsageQuery, usage_rollups
from tests.state.conftest import Backend, count_rows, usage


async def test_rows_are_written_in_the_background_and_flushed_on_close(backend: Backend) -> None:
    state = await backend.open()
    try:
        log = UsageLog(state.engine, flush_interval=3600, max_batch=10_000)  # only close() will write
        log.start()
        now = datetime.now(UTC)
        log.record([usage(f"r{i}", now) for i in range(250)])
        log.record([usage("r0", now, attempt=1, status=502, error_type="upstream_error", cost_usd=0.0)])
        assert log.pending == 251
        assert await count_rows(state.engine, usage_log) == 0  # nothing on the request path
        await log.close()
        assert log.pending == 0
        assert await count_rows(state.engine, usage_log) == 251
        async with state.engine.connect() as conn:
            row = (await conn.execute(sa.select(usage_log).where(usage_log.c.request_id == "r7"))).mappings().one()
        assert row["cost_micros"] == 123 and row["day"] == now.date()
        assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == (
            100,
            20,
            10,
            5,
        )
        assert row["latency_ms"] == 120.5 and row["ttfb_ms"] == 30.25 and row["alias_rule"] == "fast#0"
        assert row["at"] == now and row["byok"] is False
        assert row["estimated"] is False and row["overrun_micros"] == 0
    finally:
        await state.close()


async def test_gate_record_reaches_the_database_on_state_close(backend: Backend) -> None:
    state = await backend.open()
    state.gate.record([usage("g1", datetime.now(UTC)), usage("g1", datetime.now(UTC), attempt=0)])
    await state.gate.close()  # closes the whole state, flushing first
    engine = backend.engine()
    try:
        assert await count_rows(engine, usage_log) == 2
    finally:
        await engine.dispose()


async def test_prune_rolls_up_then_deletes(state: State) -> None:
    day1 = datetime(2025, 3, 1, 10, tzinfo=UTC)
    day2 = datetime(2025, 3, 2, 23, 30, tzinfo=UTC)
    recent = datetime.now(UTC)
    state.usage.record(
        [
            usage("a", day1),
            usage("a", day1, attempt=0, status=503, cost_usd=0.0),  # attempt rows are detail
            usage("b", day1 + timedelta(hours=1), status=500, prompt_tokens=50, cost_usd=0.5),
            usage("c", day1, key_id="k2", model_served=None, model_requested="gpt-x"),
            usage("d", day2),
            usage("e", recent),
        ]
    )
    await state.usage.flush()
    before_prune = await usage_rollups(state.engine, UsageQuery())
    result = await state.usage.prune(datetime(2025, 3, 3, tzinfo=UTC))
    assert result.deleted_rows == 5 and result.rollup_rows == 3
    assert await count_rows(state.engine, usage_log) == 1
    async with state.engine.connect() as conn:
        rows = (
            (await conn.execute(sa.select(usage_daily).order_by(usage_daily.c.day, usage_daily.c.key_id)))
            .mappings()
            .all()
        )
    summary = [
        (r["day"], r["key_id"], r["model"], r["requests"], r["errors"], r["prompt_tokens"], r["cost_micros"])
        for r in rows
    ]
    assert summary == [
        (date(2025, 3, 1), "k1", "gpt-4o-mini", 2, 1, 150, 500_123),
        (date(2025, 3, 1), "k2", "gpt-x", 1, 0, 100, 123),
        (date(2025, 3, 2), "k1", "gpt-4o-mini", 1, 0, 100, 123),
    ]
    # reports read the same totals from the rollups as they did from the raw rows
    after_prune = await usage_rollups(state.engine, UsageQuery())
    assert [r.to_json() for r in after_prune] == [r.to_json() for r in before_prune]
    # pruning again adds to the existing rollups instead of replacing them
    state.usage.record([usage("f", day1)])
    await state.usage.flush()
    await state.usage.prune(datetime(2025, 3, 3, tzinfo=UTC))
    march_first = await usage_rollups(
        state.engine, UsageQuery(since=date(2025, 3, 1), until=date(2025, 3, 1), key_id="k1")
    )
    assert [(r.requests, r.cost_micros) for r in march_first] == [(3, 500_246)]


async def test_overruns_and_estimated_counts_survive_the_rollup(state: State) -> None:
    day1 = datetime(2025, 4, 1, 10, tzinfo=UTC)
    state.usage.record(
        [
            usage("o1", day1, overrun_usd=0.25, cost_usd=0.75),
            usage("o2", day1, estimated=True, status=499, error_type="client_disconnected"),
            usage("o3", day1, estimated=True, overrun_usd=1.5),
            usage("o3", day1, attempt=0, estimated=True, overrun_usd=9.0),  # attempt rows are detail
            usage("o4", day1, key_id="k2"),
        ]
    )
    await state.usage.flush()
    live = await usage_rollups(state.engine, UsageQuery(key_id="k1"))
    assert [(r.requests, r.estimated, r.overrun_micros, r.cost_micros) for r in live] == [
        (3, 2, 1_750_000, 750_000 + 2 * 123)
    ]
    assert live[0].to_json()["overrun_usd"] == 1.75 and live[0].to_json()["cost_usd"] == 0.750246
    await state.usage.prune(datetime(2025, 4, 2, tzinfo=UTC))
    async with state.engine.connect() as conn:
        stored = (
            await conn.execute(
                sa.select(usage_daily.c.key_id, usage_daily.c.estimated, usage_daily.c.overrun_micros).order_by(
                    usage_daily.c.key_id
                )
            )
        ).all()
    assert [tuple(r) for r in stored] == [("k1", 2, 1_750_000), ("k2", 0, 0)]
    assert [r.to_json() for r in await usage_rollups(state.engine, UsageQuery(key_id="k1"))] == [
        r.to_json() for r in live
    ]
