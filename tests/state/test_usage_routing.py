"""Routing facts on usage rows, on both backends: written by the batcher, read back for replay,
and revision 0004 adding (and dropping) the column on a populated database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from engine.replay.read_db import recorded_since
from engine.replay.recorded import RecordedRequest
from engine.state.db import create_engine, default_database_url
from engine.state.migrate import alembic_config, schema_status, upgrade
from engine.state.schema import usage_log
from engine.state.state import State
from tests.replay.builders import routing_record
from tests.state.conftest import PG_URL, pg_execute, usage
from tests.state.test_migration_overrun import populate_0001

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def empty_schema() -> AsyncIterator[str]:
    schema = f"turnout_0004_{secrets.token_hex(4)}"
    await pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


async def test_request_rows_keep_their_routing_facts_and_read_back(state: State) -> None:
    at = NOW - timedelta(minutes=10)
    facts = routing_record(planned_at=at - timedelta(seconds=2))
    state.gate.record(
        [
            usage("r1", at, routing=facts, prompt_tokens=900, completion_tokens=40, cached_tokens=100, cost_usd=0.0021),
            usage("r1", at, attempt=1, routing=None),
            usage("r0", at - timedelta(hours=2), routing=facts),  # before the window
            usage("legacy", at, routing=None),  # a row without facts
            usage("bad", at, routing=None),
        ]
    )
    await state.usage.flush()
    async with state.engine.begin() as conn:  # a row whose facts cannot be read is skipped, not guessed
        await conn.execute(sa.update(usage_log).where(usage_log.c.request_id == "bad").values(routing='{"v": 9}'))
    loaded = await recorded_since(state.engine, NOW - timedelta(hours=1))
    assert loaded.without_facts == 2
    assert loaded.requests == [
        RecordedRequest(
            request_id="r1", planned_at=at - timedelta(seconds=2), model="auto", estimated_tokens=1000,
            max_tokens=256, stream=True, has_tools=True, has_images=False, wants_json=False, message_count=3,
            metadata={"ticket": "ÜX-1"}, headers={"x-team": "search"}, key_name="ci", key_group="research",
            key_tags=("batch",), keyed=True, first_model="big", first_channel="main", served_model="gpt-4o-mini",
            served_channel="openai", status=200, prompt_tokens=900, completion_tokens=40, cached_tokens=100,
            reasoning_tokens=5, cost_micros=2100,
        )
    ]  # fmt: skip
    until = await recorded_since(state.engine, NOW - timedelta(days=1), NOW - timedelta(hours=1))
    assert [r.request_id for r in until.requests] == ["r0"]
    async with state.engine.connect() as conn:
        stored = (await conn.execute(sa.select(usage_log.c.routing).where(usage_log.c.request_id == "r1"))).all()
    assert sorted(row[0] is None for row in stored) == [False, True]  # attempt rows carry none
    assert "never stored" not in str(stored) and "tok-secret" not in str(stored)
    assert orjson.loads(next(r[0] for r in stored if r[0]))["keyed"] is True


def _downgrade_sync(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_0004_adds_the_column_to_a_populated_database_and_drops_it(tmp_path: Path, empty_schema: str) -> None:
    for engine in (create_engine(default_database_url(tmp_path)), create_engine(PG_URL, schema=empty_schema)):
        try:
            await upgrade(engine, "0001")
            await populate_0001(engine)
            await upgrade(engine, "0003")
            await upgrade(engine)
            assert (await schema_status(engine)).state == "current"
            async with engine.connect() as conn:
                assert (await conn.execute(sa.select(usage_log.c.request_id, usage_log.c.routing))).all() == [
                    ("r-old", None)
                ]
            async with engine.begin() as conn:
                await conn.run_sync(_downgrade_sync, "0003")
            async with engine.connect() as conn:
                columns = await conn.run_sync(lambda c: {col["name"] for col in sa.inspect(c).get_columns("usage_log")})
            assert "routing" not in columns and "overrun_micros" in columns
        finally:
            await engine.dispose()
