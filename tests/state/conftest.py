"""Fixtures for the state store, parametrised over the embedded SQLite and PostgreSQL + Redis.

PostgreSQL gets one schema per test session (migrated once, tables truncated per test);
Redis gets a unique key prefix per test, deleted afterwards. Both services must be up:
the tests fail, not skip, when they are not (CI starts them).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.access import UsageRecord
from engine.policy.compiled import CompiledPolicy, GroupSpec
from engine.state.db import create_engine, default_database_url
from engine.state.migrate import upgrade
from engine.state.schema import metadata
from engine.state.state import State, Tuning, open_state

PG_URL = os.environ.get("TURNOUT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TURNOUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_KEY = "test-secret-key-0123456789abcdef"
FAST = Tuning(key_poll_interval=0.1, ledger_flush_interval=0.02, ledger_refresh_interval=0.2, usage_flush_interval=0.05)


def make_policy(**groups: GroupSpec) -> CompiledPolicy:
    return CompiledPolicy(
        version="test",
        loaded_at=datetime.now(UTC),
        source_dir=".",
        channels={},
        models={},
        aliases={},
        groups=groups,
    )


@dataclass
class Backend:
    """Where a test's state lives and how to open it."""

    name: str  # "sqlite" | "postgres"
    data_dir: Path
    database_url: str
    schema: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "turnout:"
    extra: dict[str, Any] = field(default_factory=dict)

    def open_kwargs(self, **overrides: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "data_dir": self.data_dir,
            "database_url": None if self.name == "sqlite" else self.database_url,
            "redis_url": self.redis_url,
            "secret_key": SECRET_KEY,
            "workers": 1,
            "db_schema": self.schema,
            "redis_prefix": self.redis_prefix,
            "tuning": FAST,
        }
        kwargs.update(overrides)
        return kwargs

    async def open(self, **overrides: Any) -> State:
        return await open_state(**self.open_kwargs(**overrides))

    def engine(self) -> AsyncEngine:
        return create_engine(self.database_url, schema=self.schema)


async def pg_execute(*statements: str) -> None:
    """Run statements on the test database outside any schema (autocommit)."""
    engine = create_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A private, migrated schema in the shared test database for this session."""
    schema = f"turnout_test_{secrets.token_hex(4)}"

    async def create() -> None:
        await pg_execute(f'CREATE SCHEMA "{schema}"')
        engine = create_engine(PG_URL, schema=schema)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(create())
    yield schema
    asyncio.run(pg_execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating per test)."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    url = default_database_url(directory)

    async def create() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(create())
    return directory / "turnout.db"


async def truncate_pg(schema: str) -> None:
    tables = ", ".join(f'"{schema}"."{t.name}"' for t in metadata.sorted_tables)
    await pg_execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


async def delete_redis_prefix(prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def sqlite_backend(tmp_path: Path, sqlite_template: Path) -> Backend:
    for suffix in ("", "-wal"):
        source = sqlite_template.with_name(sqlite_template.name + suffix)
        if source.exists():
            shutil.copyfile(source, tmp_path / f"turnout.db{suffix}")
    return Backend("sqlite", tmp_path, default_database_url(tmp_path))


@pytest.fixture
async def postgres_backend(tmp_path: Path, pg_schema: str) -> AsyncIterator[Backend]:
    await truncate_pg(pg_schema)
    prefix = f"turnout-test:{secrets.token_hex(6)}:"
    yield Backend("postgres", tmp_path, PG_URL, schema=pg_schema, redis_url=REDIS_URL, redis_prefix=prefix)
    await delete_redis_prefix(prefix)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The embedded store (SQLite) and the replica store (PostgreSQL + Redis)."""
    fixture = "sqlite_backend" if request.param == "sqlite" else "postgres_backend"
    found: Backend = request.getfixturevalue(fixture)
    return found


@pytest.fixture
async def state(backend: Backend) -> AsyncIterator[State]:
    opened = await backend.open()
    yield opened
    await opened.close()


async def count_rows(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


def usage(request_id: str, at: datetime, **overrides: object) -> UsageRecord:
    """A usage row with plausible values; ``overrides`` replace fields."""
    fields: dict[str, object] = dict(
        request_id=request_id,
        attempt=None,
        at=at,
        account_id="acct",
        key_id="k1",
        endpoint="/v1/chat/completions",
        model_requested="fast",
        alias_rule="fast#0",
        model_served="gpt-4o-mini",
        channel="openai",
        status=200,
        error_type=None,
        latency_ms=120.5,
        ttfb_ms=30.25,
        prompt_tokens=100,
        completion_tokens=20,
        cached_tokens=10,
        reasoning_tokens=5,
        cost_usd=0.000123,
        policy_version="v1",
    )
    fields.update(overrides)
    return UsageRecord(**fields)  # type: ignore[arg-type]
