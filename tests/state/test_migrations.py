"""Migrations from empty, the version check, and the refusals of ``open_state``."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from engine.state.db import create_engine, default_database_url
from engine.state.errors import StateConfigError
from engine.state.migrate import check_current, head_revision, schema_status, upgrade
from engine.state.schema import metadata
from engine.state.state import open_state
from tests.state.conftest import PG_URL, REDIS_URL, SECRET_KEY, Backend, pg_execute


@pytest.fixture
async def empty_pg_schema() -> AsyncIterator[str]:
    schema = f"turnout_empty_{secrets.token_hex(4)}"
    await pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_upgrade_from_empty_matches_the_schema(database: str, tmp_path: Path, empty_pg_schema: str) -> None:
    if database == "sqlite":
        engine = create_engine(default_database_url(tmp_path))
    else:
        engine = create_engine(PG_URL, schema=empty_pg_schema)
    try:
        status = await schema_status(engine)
        assert status.state == "empty" and "turnout db upgrade" in status.explain()
        assert not await check_current(engine)
        await upgrade(engine)
        assert await check_current(engine)
        assert (await schema_status(engine)).current == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        await upgrade(engine)  # idempotent
        assert await check_current(engine)
    finally:
        await engine.dispose()


async def test_upgrade_by_url(tmp_path: Path) -> None:
    url = default_database_url(tmp_path)
    assert not await check_current(url)
    await upgrade(url)
    assert await check_current(url)


async def test_shared_database_must_be_upgraded_first(tmp_path: Path, empty_pg_schema: str) -> None:
    with pytest.raises(StateConfigError, match="turnout db upgrade"):
        await open_state(
            data_dir=tmp_path,
            database_url=PG_URL,
            redis_url=REDIS_URL,
            secret_key=SECRET_KEY,
            workers=1,
            db_schema=empty_pg_schema,
        )


async def test_newer_schema_is_refused(tmp_path: Path, empty_pg_schema: str) -> None:
    engine = create_engine(PG_URL, schema=empty_pg_schema)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'fffffff'"))
        status = await schema_status(engine)
        assert status.state == "unknown" and "newer turnout" in status.explain()
    finally:
        await engine.dispose()
    with pytest.raises(StateConfigError, match="newer turnout"):
        await open_state(
            data_dir=tmp_path,
            database_url=PG_URL,
            redis_url=None,
            secret_key=SECRET_KEY,
            workers=1,
            db_schema=empty_pg_schema,
        )


async def test_embedded_store_creates_itself(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    state = await open_state(data_dir=data_dir, database_url=None, redis_url=None, secret_key=None, workers=1)
    try:
        assert await check_current(state.engine)
        assert (data_dir / "turnout.db").exists()
        assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    finally:
        await state.close()


async def test_workers_need_redis(tmp_path: Path) -> None:
    with pytest.raises(StateConfigError, match="more than one worker needs TURNOUT_REDIS_URL"):
        await open_state(data_dir=tmp_path, database_url=None, redis_url=None, secret_key=None, workers=4)


async def test_unreachable_redis_is_reported(sqlite_backend: Backend) -> None:
    with pytest.raises(StateConfigError, match="cannot reach Redis"):
        await sqlite_backend.open(redis_url="redis://127.0.0.1:1/0")


async def test_a_different_secret_key_is_refused(sqlite_backend: Backend) -> None:
    state = await sqlite_backend.open()
    await state.close()
    with pytest.raises(StateConfigError, match="TURNOUT_SECRET_KEY"):
        await sqlite_backend.open(secret_key="another-secret-key-0123456789")
