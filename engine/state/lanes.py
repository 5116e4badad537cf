"""Dedicated autocommit connections for the hold statement, the ledger's only hot-path write.

Checking a connection out of the SQLAlchemy pool costs a reset round trip per use, so the
hold runs on one of a few connections kept open for it. On PostgreSQL the statement goes
straight to the asyncpg driver connection under the SQLAlchemy one (a prepared statement,
about a third of the latency of a Core execution), and the lanes set
``synchronous_commit = off``: a hold is ephemeral bookkeeping (the ledger rows are written
with normal durability), so it need not wait for the WAL flush. On SQLite one lane runs
the Core statement (SQLite writes one at a time anyway).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.state.ledger_store import HOLD

# the same statement as ledger_store.HOLD, for the asyncpg driver
_PG_HOLD = (
    "UPDATE accounts SET reserved_micros = reserved_micros + $2 "
    "WHERE id = $1 AND balance_micros - reserved_micros >= $2 AND arrears_micros = 0 "
    "RETURNING balance_micros - reserved_micros"
)


@dataclass(slots=True)
class _Lane:
    conn: AsyncConnection
    driver: Any  # asyncpg.Connection on PostgreSQL (untyped library), else None


class HoldLanes:
    def __init__(self, engine: AsyncEngine, size: int = 4) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._free: asyncio.Queue[_Lane | None] = asyncio.Queue()
        for _ in range(size if self._postgres else 1):
            self._free.put_nowait(None)  # opened on first use
        self._open: list[_Lane] = []

    async def _connect(self) -> _Lane:
        conn = await self._engine.execution_options(isolation_level="AUTOCOMMIT").connect()
        driver = None
        if self._postgres:
            await conn.exec_driver_sql("SET synchronous_commit TO off")
            driver = (await conn.get_raw_connection()).driver_connection
        lane = _Lane(conn, driver)
        self._open.append(lane)
        return lane

    async def hold(self, account_id: str, amount: int) -> int | None:
        """Add ``amount`` to the account's holds if its balance covers it and it has no arrears;
        the amount left, or None."""
        lane = await self._free.get()
        try:
            if lane is None:
                lane = await self._connect()
            if lane.driver is not None:
                left = await lane.driver.fetchval(_PG_HOLD, account_id, amount)
            else:
                left = (await lane.conn.execute(HOLD, {"account_id": account_id, "amount": amount})).scalar()
        except BaseException:
            if lane is not None:  # the connection may be broken: replace it on next use
                self._open.remove(lane)
                await _discard(lane.conn)
                lane = None
            raise
        finally:
            self._free.put_nowait(lane)
        return None if left is None else int(left)

    async def close(self) -> None:
        for lane in self._open:
            await _discard(lane.conn)
        self._open.clear()


async def _discard(conn: AsyncConnection) -> None:
    try:
        if conn.dialect.name == "postgresql" and not conn.closed and not conn.invalidated:
            await conn.exec_driver_sql("RESET synchronous_commit")
        await conn.close()
    except Exception:
        await conn.invalidate()
