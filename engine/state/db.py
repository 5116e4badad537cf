"""Database engines for the state store: URL defaults, SQLite pragmas, dialect helpers.

SQLite (the embedded default) runs in WAL mode; every transaction that is not
``AUTOCOMMIT`` starts with ``BEGIN IMMEDIATE`` so concurrent writers (the server and a
CLI process) queue on the database lock instead of failing halfway. Short read
transactions take the lock too: simple and safe, and the embedded request path does
not touch the database. PostgreSQL takes an optional ``schema`` (the
``search_path``), which the tests use to isolate themselves in a shared database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert


class DatabaseConfigError(Exception):
    """The database URL cannot be used (unsupported driver, unreadable path)."""


def default_database_url(data_dir: str | Path) -> str:
    path = Path(data_dir).expanduser().resolve() / "turnout.db"
    return f"sqlite+aiosqlite:///{path}"


def is_sqlite_url(url: str) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An ``AsyncEngine`` for ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URLs."""
    parsed = sa.make_url(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite":
        if driver != "aiosqlite":
            raise DatabaseConfigError(f"SQLite needs the async driver: use sqlite+aiosqlite:///PATH (got {url!r})")
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseConfigError("an in-memory SQLite database cannot be shared: give a file path")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed, json_serializer=_json_dumps, json_deserializer=orjson.loads, pool_size=8, max_overflow=8
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if driver != "asyncpg":
            raise DatabaseConfigError(
                f"PostgreSQL needs the async driver: use postgresql+asyncpg://... (got driver {driver!r})"
            )
        connect_args: dict[str, Any] = {}
        if schema:
            connect_args["server_settings"] = {"search_path": schema}
        return create_async_engine(
            parsed,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args=connect_args,
            pool_size=10,
            max_overflow=20,
        )
    raise DatabaseConfigError(f"unsupported database {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg")


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA busy_timeout=10000",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def upsert_adding(
    dialect_name: str,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    key_columns: Sequence[str],
    add_columns: Sequence[str],
) -> Insert:
    """``INSERT rows ON CONFLICT (key_columns) DO UPDATE SET c = c + excluded.c``."""
    if dialect_name == "postgresql":
        pg = postgresql.insert(table).values(list(rows))
        return pg.on_conflict_do_update(
            index_elements=list(key_columns), set_={c: table.c[c] + pg.excluded[c] for c in add_columns}
        )
    if dialect_name == "sqlite":
        lite = sqlite.insert(table).values(list(rows))
        return lite.on_conflict_do_update(
            index_elements=list(key_columns), set_={c: table.c[c] + lite.excluded[c] for c in add_columns}
        )
    raise DatabaseConfigError(f"unsupported database dialect {dialect_name!r}")
