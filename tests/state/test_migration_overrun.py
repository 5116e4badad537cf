"""Revision 0002 (arrears, overruns, estimated usage) upgrades a populated 0001 database.

A shared database still at 0001 is refused at start with the usual message until
``turnout db upgrade`` runs; the embedded one upgrades itself; existing rows get the
defaults (no arrears, no overrun, not estimated); the downgrade goes back cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.access import UsageRecord
from engine.policy.compiled import GroupSpec
from engine.state.cli import StateConfig, register
from engine.state.db import create_engine, default_database_url
from engine.state.errors import StateConfigError
from engine.state.migrate import alembic_config, head_revision, schema_status, upgrade
from engine.state.schema import accounts, ledger, metadata, usage_daily, usage_log
from engine.state.state import open_state
from tests.state.conftest import PG_URL, REDIS_URL, SECRET_KEY, make_policy, pg_execute

AT = datetime(2025, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
async def empty_pg_schema() -> AsyncIterator[str]:
    schema = f"turnout_0002_{secrets.token_hex(4)}"
    await pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _downgrade_sync(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def populate_0001(engine: AsyncEngine) -> None:
    """Rows as a 0001 turnout wrote them (only the columns 0001 has)."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(accounts).values(id="old", prepaid=True, balance_micros=5, reserved_micros=0, created_at=AT)
        )
        await conn.execute(sa.insert(ledger).values(account_id="old", at=AT, kind="credit", amount_micros=5))
        await conn.execute(
            sa.insert(usage_log).values(
                request_id="r-old",
                at=AT,
                day=AT.date(),
                endpoint="/v1/chat/completions",
                model_requested="m",
                status=200,
                latency_ms=1.0,
                prompt_tokens=1,
                completion_tokens=2,
                cached_tokens=0,
                reasoning_tokens=0,
                cost_micros=7,
                policy_version="v0",
                byok=False,
            )
        )
        await conn.execute(
            sa.insert(usage_daily).values(
                day=AT.date(),
                account_id="old",
                key_id="",
                model="m",
                requests=1,
                errors=0,
                prompt_tokens=1,
                completion_tokens=2,
                cached_tokens=0,
                reasoning_tokens=0,
                cost_micros=3,
            )
        )


async def read_defaults(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return {
            "arrears": (await conn.execute(sa.select(accounts.c.arrears_micros))).scalar_one(),
            "ledger_overrun": (await conn.execute(sa.select(ledger.c.overrun_micros))).scalar_one(),
            "usage": tuple((await conn.execute(sa.select(usage_log.c.estimated, usage_log.c.overrun_micros))).one()),
            "daily": tuple(
                (await conn.execute(sa.select(usage_daily.c.estimated, usage_daily.c.overrun_micros))).one()
            ),
        }


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_0001_upgrades_to_0002_keeping_its_rows(database: str, tmp_path: Path, empty_pg_schema: str) -> None:
    head = head_revision()  # 0002 or a later revision built on it
    if database == "sqlite":
        engine = create_engine(default_database_url(tmp_path))
    else:
        engine = create_engine(PG_URL, schema=empty_pg_schema)
    try:
        await upgrade(engine, "0001")
        await populate_0001(engine)
        status = await schema_status(engine)
        assert (status.state, status.current) == ("behind", "0001")
        assert status.explain() == (
            f"the database schema is at revision 0001, this turnout needs {head}: run 'turnout db upgrade'"
        )

        await upgrade(engine)
        assert (await schema_status(engine)).state == "current"
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        assert await read_defaults(engine) == {"arrears": 0, "ledger_overrun": 0, "usage": (False, 0), "daily": (0, 0)}

        async with engine.begin() as conn:  # and back: 0002 only added columns (later ones: tables)
            await conn.run_sync(_downgrade_sync, "0001")
        assert (await schema_status(engine)).current == "0001"
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: {col["name"] for col in sa.inspect(c).get_columns("usage_log")})
        assert "estimated" not in columns and "overrun_micros" not in columns and "byok" in columns
        await upgrade(engine)
        assert (await schema_status(engine)).state == "current"
    finally:
        await engine.dispose()


async def test_a_shared_database_at_0001_is_refused_until_upgraded(tmp_path: Path, empty_pg_schema: str) -> None:
    engine = create_engine(PG_URL, schema=empty_pg_schema)
    try:
        await upgrade(engine, "0001")
    finally:
        await engine.dispose()
    settings: dict[str, Any] = dict(
        data_dir=tmp_path, database_url=PG_URL, redis_url=REDIS_URL, secret_key=SECRET_KEY, db_schema=empty_pg_schema
    )
    needs = rf"revision 0001, this turnout needs {head_revision()}: run 'turnout db upgrade'"
    with pytest.raises(StateConfigError, match=needs):
        await open_state(**settings)
    engine = create_engine(PG_URL, schema=empty_pg_schema)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    state = await open_state(**settings)
    await state.close()


def run(config: StateConfig, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="turnout")
    register(parser.add_subparsers(dest="command", required=True), lambda: config)
    args = parser.parse_args(list(argv))
    status: int = args.func(args)
    return status


async def test_the_embedded_store_upgrades_itself_from_0001(tmp_path: Path) -> None:
    engine = create_engine(default_database_url(tmp_path))
    try:
        await upgrade(engine, "0001")
        await populate_0001(engine)
    finally:
        await engine.dispose()
    state = await open_state(data_dir=tmp_path, database_url=None, redis_url=None, secret_key=SECRET_KEY)
    try:
        assert (await schema_status(state.engine)).state == "current"
        balance = await state.ledger.balance("old")
        assert (balance.balance_micros, balance.arrears_micros) == (5, 0)
    finally:
        await state.close()


def test_turnout_db_upgrade_applies_0002_and_usage_shows_the_overrun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = StateConfig(
        data_dir=tmp_path, secret_key=SECRET_KEY, load_policy=lambda: make_policy(default=GroupSpec("default"))
    )

    async def at_0001() -> None:
        engine = create_engine(default_database_url(tmp_path))
        try:
            await upgrade(engine, "0001")
        finally:
            await engine.dispose()

    asyncio.run(at_0001())
    assert run(config, "db", "status") == 1
    head = head_revision()
    assert f"revision 0001, this turnout needs {head}: run 'turnout db upgrade'" in capsys.readouterr().out
    assert run(config, "db", "upgrade") == 0
    assert capsys.readouterr().out == f"the database schema is current (revision {head})\n"

    async def add_usage() -> None:
        state = await open_state(data_dir=tmp_path, database_url=None, redis_url=None, secret_key=SECRET_KEY)
        record = UsageRecord(
            "r", None, AT, "acct", "k", "/v1/messages", "m", None, "m", "c", 200, None, 5.0, None, 7, 3, 0, 0,
            0.5, "v1", False, True, 1.25,
        )  # fmt: skip
        state.gate.record([record, record._replace(request_id="r2", estimated=False, overrun_usd=0.0)])
        await state.close()

    asyncio.run(add_usage())
    assert run(config, "usage", "--since", "2025-05-01") == 0
    report = capsys.readouterr().out.splitlines()
    header = report[0].split()
    row = dict(zip(header, report[1].split(), strict=True))
    assert header[-2:] == ["COST", "OVERRUN"]
    assert (row["REQUESTS"], row["COST"], row["OVERRUN"]) == ("2", "$1.00", "$1.25")
    assert run(config, "usage", "--since", "2025-05-01", "--json") == 0
    listed = capsys.readouterr().out
    assert '"overrun_usd": 1.25' in listed and '"overrun_micros": 1250000' in listed and '"estimated": 1' in listed
    assert date(2025, 5, 1).isoformat() in report[1]
