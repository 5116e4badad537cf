"""The usage log: one row per request and per attempt, written in batches off the request path.

``record`` only queues the ``UsageRecord`` tuples as they are (see ``engine.state.batcher``):
rows are written every ``flush_interval`` seconds (0.5 by default) or every 500 rows, and
``close`` writes the rest, so a graceful stop loses nothing and a crash loses at most one
flush interval. Rows carry the fields of ``engine.access.UsageRecord`` (never prompts or
outputs), with ``cost_usd`` and ``overrun_usd`` stored as integer ``cost_micros`` and
``overrun_micros``, the UTC ``day`` added for rollups, and a request row's routing facts
as JSON text in ``routing`` (``engine.replay.recorded.routing_json``, for ``turnout replay``).

All conversion happens at write time, one pass per batch, and goes to the driver directly,
with no SQLAlchemy compile or bind processing per row. What is stored is exactly what
``sa.insert(usage_log)`` of ``usage_row(record)`` stores (the tests compare both):

* **SQLite**: values as SQLAlchemy's SQLite dialect writes them (``at`` as naive UTC text
  with microseconds, ``day`` as ISO text), in one ``BEGIN IMMEDIATE`` transaction of
  multi-row INSERTs (128, 64, ... rows each), on a connection and thread of the log's own.
  SQLite runs without the GIL there, entered a few times per batch rather than once a row,
  so the event loop pays for building the tuples and little else. The lock is waited for
  in that thread (10 s at most, like the engine's ``busy_timeout``).
* **PostgreSQL**: one binary ``COPY`` per batch through asyncpg, on a pooled connection.

A row that cannot be converted (a NaN cost, say) is logged and dropped instead of failing
its whole batch forever.

``prune(before)`` folds old rows into ``usage_daily`` (one row per UTC day, account, key
and model, counting request rows; attempt rows are detail and are dropped) and deletes them.
A rollup keeps the cost, the overrun and how many requests had estimated tokens.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.access import UsageRecord
from engine.replay.recorded import routing_json
from engine.state.batcher import Batcher
from engine.state.db import upsert_adding
from engine.state.money import usd_to_micros
from engine.state.schema import usage_daily, usage_log

log = logging.getLogger(__name__)

ROLLUP_SUMS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_micros",
    "overrun_micros",
)
ROLLUP_COUNTS = ("requests", "errors", "estimated", *ROLLUP_SUMS)

# ``usage_log`` without its id, in table order: the order of the tuples ``db_rows`` builds.
COLUMNS = tuple(c.name for c in usage_log.columns if not c.primary_key)
SQLITE_MAX_ROWS = 128  # rows per INSERT statement at most (fewer if SQLite allows fewer parameters)
_SQLITE_ROW = "(" + ", ".join("?" * len(COLUMNS)) + ")"
_SQLITE_INSERT = f"INSERT INTO {usage_log.name} ({', '.join(COLUMNS)}) VALUES {_SQLITE_ROW}"
_SQLITE_TIMEOUT = 10.0  # seconds to wait for the write lock, as the engine's busy_timeout
_SQLITE_LOCK_POLL = 0.05  # seconds per wait, between which an abandoned write gives up

DbRow = tuple[Any, ...]
Writer = Callable[[list[UsageRecord]], Awaitable[None]]


def usage_row(record: UsageRecord) -> dict[str, Any]:
    """The row as ``sa.insert(usage_log)`` parameters: the reference for the fast writers."""
    at = record.at if record.at.tzinfo is not None else record.at.replace(tzinfo=UTC)
    return {
        "request_id": record.request_id,
        "attempt": record.attempt,
        "at": at,
        "day": at.astimezone(UTC).date(),
        "account_id": record.account_id,
        "key_id": record.key_id,
        "endpoint": record.endpoint,
        "model_requested": record.model_requested,
        "alias_rule": record.alias_rule,
        "model_served": record.model_served,
        "channel": record.channel,
        "status": record.status,
        "error_type": record.error_type,
        "latency_ms": record.latency_ms,
        "ttfb_ms": record.ttfb_ms,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cached_tokens": record.cached_tokens,
        "reasoning_tokens": record.reasoning_tokens,
        "cost_micros": usd_to_micros(record.cost_usd),
        "policy_version": record.policy_version,
        "byok": record.byok,
        "estimated": record.estimated,
        "overrun_micros": usd_to_micros(record.overrun_usd),
        "routing": routing_json(record.routing) if record.routing is not None else None,
        "canary_version": record.canary_version,
    }


def cost_micros(usd: float) -> int:
    """``usd_to_micros(usd)``, skipping ``Decimal`` when the result cannot depend on it.

    ``usd_to_micros`` rounds ``Decimal(repr(usd)) * 10**6``; the float product ``usd * 1e6``
    is within ``|product| * 2**-52`` of that (under 0.0003 below 10**12), so when it is
    within 0.499 of an integer, that integer is the answer. Otherwise (near a half micro,
    huge, NaN, not a float) the exact path decides.
    """
    if type(usd) is float:
        scaled = usd * 1e6
        if -1e12 < scaled < 1e12:
            nearest = round(scaled)
            if -0.499 < scaled - nearest < 0.499:
                return nearest
    return usd_to_micros(usd)


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


def sqlite_at(at: datetime) -> tuple[str, str]:
    """``at`` and ``day`` as SQLAlchemy's SQLite DATETIME and DATE store them."""
    text = _utc(at).isoformat(" ", "microseconds")[:26]  # drop "+00:00": naive UTC
    return text, text[:10]


def postgres_at(at: datetime) -> tuple[datetime, date]:
    utc = _utc(at)
    return utc, utc.date()


def db_rows(records: Iterable[UsageRecord], encode_at: Callable[[datetime], tuple[Any, Any]]) -> list[DbRow]:
    """Driver-ready tuples in ``COLUMNS`` order; ``at`` is encoded once per distinct datetime."""
    rows: list[DbRow] = []
    append = rows.append
    last_at: datetime | None = None
    at_value: Any = None
    day: Any = None
    for record in records:
        try:
            (request_id, attempt, at, account_id, key_id, endpoint, model_requested, alias_rule, model_served,
             channel, status, error_type, latency_ms, ttfb_ms, prompt_tokens, completion_tokens, cached_tokens,
             reasoning_tokens, cost_usd, policy_version, byok, estimated, overrun_usd, routing,
             canary_version) = record  # fmt: skip
            if at is not last_at:  # a request's rows share one datetime
                at_value, day = encode_at(at)
                last_at = at
            append((
                request_id, attempt, at_value, day, account_id, key_id, endpoint, model_requested, alias_rule,
                model_served, channel, status, error_type, latency_ms, ttfb_ms, prompt_tokens, completion_tokens,
                cached_tokens, reasoning_tokens, cost_micros(cost_usd) if cost_usd else 0, policy_version, byok,
                estimated, cost_micros(overrun_usd) if overrun_usd else 0,
                routing_json(routing) if routing is not None else None, canary_version,
            ))  # fmt: skip
        except Exception as exc:  # one bad row must not block every row queued after it
            log.error("usage row of request %s dropped, it cannot be stored: %r", record[0], exc)
    return rows


def _powers_of_two(limit: int) -> list[int]:
    """``[1, 2, 4, ...]`` up to ``limit`` (at least ``[1]``)."""
    sizes = [1]
    while sizes[-1] * 2 <= limit:
        sizes.append(sizes[-1] * 2)
    return sizes


def _begin_immediate(db: sqlite3.Connection, abandon: threading.Event) -> None:
    """Take the write lock, waiting up to ``_SQLITE_TIMEOUT`` but not past ``abandon``."""
    deadline = time.monotonic() + _SQLITE_TIMEOUT
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or abandon.is_set() or time.monotonic() > deadline:
                raise


class SqliteWriter:
    """Batches into SQLite from one thread and connection of its own, opened on first use."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None  # used in self._thread only
        self._statements: dict[int, str] = {}  # rows per INSERT -> its SQL, largest first, down to 1

    async def write(self, records: list[UsageRecord]) -> None:
        rows = db_rows(records, sqlite_at)
        if not rows:
            return
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="turnout-usage-sqlite")
        abandon = threading.Event()
        done = asyncio.get_running_loop().run_in_executor(self._thread, self._insert, rows, abandon)
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            # Roll back rather than commit rows the caller will queue again, and wait for the
            # thread (a few ms, or one lock poll) so no transaction outlives this call.
            abandon.set()
            await asyncio.gather(done, return_exceptions=True)
            raise

    def _insert(self, rows: list[DbRow], abandon: threading.Event) -> None:
        """One transaction; multi-row INSERTs of 128, 64, ... 1 rows, so that SQLite, which
        runs without the GIL, is entered a handful of times per batch instead of once a row."""
        try:
            db = self._db if self._db is not None else self._open()
            _begin_immediate(db, abandon)
            start = 0
            for size, statement in self._statements.items():  # largest first, down to 1
                end = start + (len(rows) - start) // size * size
                if end > start:
                    flat = [tuple(chain.from_iterable(rows[i : i + size])) for i in range(start, end, size)]
                    db.executemany(statement, flat)
                    start = end
            if abandon.is_set():
                raise sqlite3.OperationalError("write abandoned")
            db.execute("COMMIT")
        except BaseException:
            self._close()  # rolls back; failures are rare, so the next write simply reconnects
            raise

    def _open(self) -> sqlite3.Connection:
        self._db = db = sqlite3.connect(self._path, timeout=_SQLITE_LOCK_POLL, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        limit = min(SQLITE_MAX_ROWS, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(COLUMNS))
        sizes = _powers_of_two(limit)[::-1]
        self._statements = {size: _SQLITE_INSERT + f", {_SQLITE_ROW}" * (size - 1) for size in sizes}
        return db

    def _close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(thread, self._close)
            finally:
                thread.shutdown()


async def copy_postgres(engine: AsyncEngine, records: list[UsageRecord]) -> None:
    """One binary ``COPY`` per batch (atomic by itself) on a pooled asyncpg connection."""
    rows = db_rows(records, postgres_at)
    if not rows:
        return
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        try:
            await driver.copy_records_to_table(usage_log.name, records=rows, columns=COLUMNS)
        except BaseException:
            if driver.is_closed():  # SQLAlchemy did not see the error: keep its pool clean
                await conn.invalidate()
            raise


async def insert_sqlalchemy(engine: AsyncEngine, records: list[UsageRecord]) -> None:
    """The portable path, for engines without a fast writer."""
    async with engine.begin() as conn:
        await conn.execute(sa.insert(usage_log), [usage_row(r) for r in records])


def rollup_columns() -> list[sa.ColumnElement[Any]]:
    """Group-by columns then sums, over request rows of ``usage_log`` (shared with reports)."""
    return [
        usage_log.c.day,
        sa.func.coalesce(usage_log.c.account_id, "").label("account_id"),
        sa.func.coalesce(usage_log.c.key_id, "").label("key_id"),
        sa.func.coalesce(usage_log.c.model_served, usage_log.c.model_requested).label("model"),
        sa.func.count().label("requests"),
        sa.func.sum(sa.case((usage_log.c.status >= 400, 1), else_=0)).label("errors"),
        sa.func.sum(sa.case((usage_log.c.estimated, 1), else_=0)).label("estimated"),
        *(sa.func.sum(usage_log.c[name]).label(name) for name in ROLLUP_SUMS),
    ]


@dataclass(frozen=True, slots=True)
class PruneResult:
    deleted_rows: int
    rollup_rows: int


class UsageLog:
    def __init__(self, engine: AsyncEngine, *, flush_interval: float = 0.5, max_batch: int = 500) -> None:
        self._engine = engine
        self._sqlite: SqliteWriter | None = None
        dialect = engine.dialect
        write: Writer
        if dialect.name == "sqlite" and dialect.driver == "aiosqlite" and engine.url.database:
            self._sqlite = SqliteWriter(engine.url.database)
            write = self._sqlite.write
        elif dialect.name == "postgresql" and dialect.driver == "asyncpg":
            write = partial(copy_postgres, engine)
        else:
            write = partial(insert_sqlalchemy, engine)
        self._writer: Batcher[UsageRecord] = Batcher(write, name="usage", interval=flush_interval, max_items=max_batch)

    def start(self) -> None:
        self._writer.start()

    def record(self, rows: list[UsageRecord]) -> None:
        """Queue rows; never blocks, never does I/O and never converts anything."""
        self._writer.extend(rows)

    @property
    def pending(self) -> int:
        return self._writer.pending

    @property
    def dropped(self) -> int:
        """Rows dropped since start (the database was down or too slow for too long)."""
        return self._writer.dropped

    async def flush(self) -> None:
        await self._writer.flush()

    async def close(self) -> None:
        try:
            await self._writer.close()
        finally:
            if self._sqlite is not None:
                await self._sqlite.close()

    async def prune(self, before: datetime) -> PruneResult:
        """Roll rows older than ``before`` up into ``usage_daily``, then delete them."""
        await self.flush()
        columns = rollup_columns()
        group = columns[:4]
        async with self._engine.begin() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(*columns)
                        .where(usage_log.c.at < before, usage_log.c.attempt.is_(None))
                        .group_by(*group)
                    )
                )
                .mappings()
                .all()
            )
            rollups = [{**row, **{name: int(row[name] or 0) for name in ROLLUP_COUNTS}} for row in rows]
            for start in range(0, len(rollups), 500):
                await conn.execute(
                    upsert_adding(
                        conn.dialect.name,
                        usage_daily,
                        rollups[start : start + 500],
                        ["day", "account_id", "key_id", "model"],
                        ROLLUP_COUNTS,
                    )
                )
            deleted = await conn.execute(sa.delete(usage_log).where(usage_log.c.at < before))
        return PruneResult(deleted.rowcount, len(rollups))
