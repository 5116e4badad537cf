"""Database engines for the state store: URL defaults, SQLite pragmas, dialect helpers.

SQLite (the embedded default) runs in WAL mode; every transaction that is not
``AUTOCOMMIT`` starts with ``BEGIN IMMEDIATE`` so concurrent writers (the server and a
CLI process) queue on the database lock instead of failing halfway. Short read
transactions take the lock too: simple and safe, and the embedded request path does
not touch the database. PostgreSQL takes an optional ``schema`` (the
``search_path``), which the tests use to isolate themselves in a shared database.

URLs are taken in the spellings people paste (``normalize_database_url``):
``postgresql://``, ``postgres://``, ``postgresql+asyncpg://`` or any other PostgreSQL
driver name all mean asyncpg, with libpq's ``sslmode`` / ``connect_timeout`` /
``application_name`` translated; ``sqlite:///PATH`` means aiosqlite. ``describe_url``
shows one without its password.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

from engine.state.errors import StateConfigError

CONNECT_TIMEOUT_SECONDS = 10.0  # asyncpg's own default is 60 s: too long to learn a host is down
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "pgsql"})
_SUPPORTED = "use postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE or sqlite:///PATH"


class DatabaseConfigError(StateConfigError):
    """The database URL cannot be used (unparseable, unsupported database, unreadable path)."""


def _parse(url: str) -> URL:
    try:
        return sa.make_url(url.strip())
    except ArgumentError:
        raise DatabaseConfigError(f"the database URL is not a URL: {_SUPPORTED}") from None


def describe_url(url: str | URL) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parsed = url if isinstance(url, URL) else sa.make_url(url)
    except ArgumentError:
        return "(not a URL)"
    return parsed.render_as_string(hide_password=True)


def _libpq_query(parsed: URL) -> URL:
    """libpq's query parameters in the names asyncpg takes."""
    query = dict(parsed.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    if "connect_timeout" in query:
        query["timeout"] = query.pop("connect_timeout")
    return parsed.set(query=query)


def _postgres_connect_args(parsed: URL, schema: str | None) -> tuple[URL, dict[str, Any]]:
    """The URL's parameters asyncpg cannot take as strings, moved into ``connect_args``."""
    query = dict(parsed.query)
    settings: dict[str, str] = {}
    name = query.pop("application_name", None)
    if isinstance(name, str):
        settings["application_name"] = name
    if schema:
        settings["search_path"] = schema
    timeout = query.pop("timeout", None)
    try:
        seconds = CONNECT_TIMEOUT_SECONDS if timeout is None else float(str(timeout))
    except ValueError:
        raise DatabaseConfigError(f"connect_timeout in the database URL is not a number: {timeout!r}") from None
    connect_args: dict[str, Any] = {"timeout": seconds}
    if settings:
        connect_args["server_settings"] = settings
    return parsed.set(query=query), connect_args


def normalize_database_url(url: str) -> str:
    """``url`` in the form ``create_engine`` takes: asyncpg for PostgreSQL, aiosqlite for
    SQLite, whatever driver (or none) was written. Raises ``DatabaseConfigError``."""
    parsed = _parse(url)
    backend = parsed.drivername.partition("+")[0].lower()
    if backend in _POSTGRES_SCHEMES:
        parsed = _libpq_query(parsed.set(drivername="postgresql+asyncpg"))
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise DatabaseConfigError(f"unsupported database {backend!r} in {describe_url(parsed)}: {_SUPPORTED}")
    return parsed.render_as_string(hide_password=False)


def database_label(url: str, *, configured: bool) -> str:
    """How messages name the database: the URL (without password) or the embedded file."""
    if configured:
        return f"the database at {describe_url(url)} (TURNOUT_DATABASE_URL)"
    return f"the embedded database {sa.make_url(url).database}"


def reason(exc: BaseException) -> str:
    """One line saying why a connection failed (the driver's own message, not SQLAlchemy's wrapper)."""
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(cause).__name__


async def check_reachable(engine: AsyncEngine, where: str) -> None:
    """Connect once, so an unreachable or misnamed database is one clear error."""
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure to connect here is the settings' fault, not a bug
        raise DatabaseConfigError(f"cannot connect to {where}: {reason(exc)}") from None


def default_database_url(data_dir: str | Path) -> str:
    path = Path(data_dir).expanduser().resolve() / "turnout.db"
    return f"sqlite+aiosqlite:///{path}"


def is_sqlite_url(url: str) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An ``AsyncEngine`` for a SQLite or PostgreSQL URL (see ``normalize_database_url``)."""
    parsed = sa.make_url(normalize_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseConfigError("an in-memory SQLite database cannot be shared: give a file path")
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseConfigError(f"cannot create the directory of {parsed.database}: {exc.strerror}") from None
        engine = create_async_engine(
            parsed, json_serializer=_json_dumps, json_deserializer=orjson.loads, pool_size=8, max_overflow=8
        )
        _configure_sqlite(engine)
        return engine
    parsed, connect_args = _postgres_connect_args(parsed, schema)
    return create_async_engine(
        parsed,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args=connect_args,
        pool_size=10,
        max_overflow=20,
    )


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
