"""A few dedicated autocommit connections for single-statement hot-path writes.

Checking a connection out of the SQLAlchemy pool costs a reset round trip per use; the
hold statement of ``engine.state.ledger`` runs on one of these instead. On PostgreSQL the
lanes set ``synchronous_commit = off``: a hold is ephemeral bookkeeping (the ledger rows
are written with normal durability), so it need not wait for the WAL flush.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class ConnectionLanes:
    def __init__(self, engine: AsyncEngine, size: int = 4) -> None:
        self._engine = engine
        self._free: asyncio.Queue[AsyncConnection | None] = asyncio.Queue()
        for _ in range(size):
            self._free.put_nowait(None)  # opened on first use
        self._open: set[AsyncConnection] = set()

    async def _connect(self) -> AsyncConnection:
        conn = await self._engine.execution_options(isolation_level="AUTOCOMMIT").connect()
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("SET synchronous_commit TO off")
        self._open.add(conn)
        return conn

    @asynccontextmanager
    async def lane(self) -> AsyncIterator[AsyncConnection]:
        conn = await self._free.get()
        try:
            if conn is None:
                conn = await self._connect()
            yield conn
        except BaseException:
            if conn is not None:  # the connection may be broken: replace it on next use
                self._open.discard(conn)
                await _discard(conn)
                conn = None
            raise
        finally:
            self._free.put_nowait(conn)

    async def close(self) -> None:
        for conn in list(self._open):
            await _discard(conn)
        self._open.clear()


async def _discard(conn: AsyncConnection) -> None:
    try:
        if conn.dialect.name == "postgresql" and not conn.closed and not conn.invalidated:
            await conn.exec_driver_sql("RESET synchronous_commit")
        await conn.close()
    except Exception:
        await conn.invalidate()
