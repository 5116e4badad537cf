"""Database URLs in the spellings operators paste: every PostgreSQL spelling means asyncpg,
``sqlite:///`` means aiosqlite, libpq's query parameters are translated, and anything else
is a ``DatabaseConfigError`` (a ``StateConfigError``) whose message names no password."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.state.db import DatabaseConfigError, describe_url, normalize_database_url
from engine.state.errors import StateConfigError
from engine.state.state import open_state
from tests.state.conftest import PG_URL, SECRET_KEY


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:pw@db:5432/app", "postgresql+asyncpg://u:pw@db:5432/app"),
        ("postgres://u:pw@db/app", "postgresql+asyncpg://u:pw@db/app"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql+psycopg2://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql+psycopg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("  postgres://u@db/app  ", "postgresql+asyncpg://u@db/app"),
        ("postgresql:///app", "postgresql+asyncpg:///app"),
        ("postgres://u@db/app?sslmode=require", "postgresql+asyncpg://u@db/app?ssl=require"),
        ("postgres://u@db/app?connect_timeout=3", "postgresql+asyncpg://u@db/app?timeout=3"),
        ("sqlite:////var/lib/turnout/t.db", "sqlite+aiosqlite:////var/lib/turnout/t.db"),
        ("sqlite+aiosqlite:///rel/t.db", "sqlite+aiosqlite:///rel/t.db"),
    ],
)
def test_usual_spellings(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("mysql://u:hunter22@db/app", "unsupported database 'mysql'"),
        ("just words", "not a URL"),
        ("", "not a URL"),
        ("oracle+cx_oracle://u:hunter22@db/app", "unsupported database 'oracle'"),
    ],
)
def test_unusable_urls(given: str, says: str) -> None:
    with pytest.raises(DatabaseConfigError) as caught:
        normalize_database_url(given)
    assert isinstance(caught.value, StateConfigError)
    assert says in str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_describe_hides_the_password() -> None:
    assert describe_url("postgresql+asyncpg://u:hunter22@db/app") == "postgresql+asyncpg://u:***@db/app"


async def test_a_pasted_postgres_url_opens_the_store(pg_schema: str, tmp_path: Path) -> None:
    """``postgres://`` with libpq's parameters, as a hosting provider hands it out."""
    pasted = sa.make_url(PG_URL).set(drivername="postgres").render_as_string(hide_password=False)
    pasted += "?sslmode=disable&connect_timeout=4&application_name=turnout-url-test"
    state = await open_state(
        data_dir=tmp_path, database_url=pasted, redis_url=None, secret_key=SECRET_KEY, db_schema=pg_schema
    )
    try:
        async with state.engine.connect() as conn:
            found = await conn.execute(
                sa.text("SELECT current_setting('application_name'), current_setting('search_path')")
            )
            application, search_path = found.one()
        assert application == "turnout-url-test"
        assert pg_schema in search_path
        assert state.engine.url.drivername == "postgresql+asyncpg"
    finally:
        await state.close()
