"""Accounts: who pays. Each key bills one account; a prepaid account must hold credit.

A postpaid account (the default) records every charge and may go negative; a prepaid one
refuses requests its balance cannot cover (``insufficient_balance``) and never goes below
zero: cost its balance could not cover is kept as arrears, and the account is refused
until a credit pays them. Balances and arrears move only through ``engine.state.ledger``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.state.errors import InvalidInput, NotFound
from engine.state.schema import accounts

_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    prepaid: bool
    balance_micros: int  # sum of the account's ledger rows
    reserved_micros: int  # held by in-flight requests (shared mode)
    created_at: datetime
    arrears_micros: int = 0  # overruns no credit has paid yet (sum of the ledger's overrun_micros)

    @property
    def available_micros(self) -> int:
        return self.balance_micros - self.reserved_micros


def check_account_id(account_id: str) -> str:
    if not _ACCOUNT_ID.match(account_id):
        raise InvalidInput(
            f"invalid account id {account_id!r}: use 1-128 letters, digits and . _ : @ - "
            "(starting with a letter or digit)"
        )
    return account_id


def _account(row: sa.RowMapping) -> Account:
    return Account(
        str(row["id"]),
        bool(row["prepaid"]),
        int(row["balance_micros"]),
        int(row["reserved_micros"]),
        row["created_at"],
        int(row["arrears_micros"]),
    )


_COLUMNS = (
    accounts.c.id,
    accounts.c.prepaid,
    accounts.c.balance_micros,
    accounts.c.reserved_micros,
    accounts.c.created_at,
    accounts.c.arrears_micros,
)


async def fetch_account(conn: AsyncConnection, account_id: str) -> Account | None:
    row = (await conn.execute(sa.select(*_COLUMNS).where(accounts.c.id == account_id))).mappings().first()
    return _account(row) if row is not None else None


async def insert_account(conn: AsyncConnection, account_id: str, *, prepaid: bool) -> Account:
    created = datetime.now(UTC)
    await conn.execute(
        sa.insert(accounts).values(
            id=check_account_id(account_id),
            prepaid=prepaid,
            balance_micros=0,
            reserved_micros=0,
            arrears_micros=0,
            created_at=created,
        )
    )
    return Account(account_id, prepaid, 0, 0, created)


class AccountStore:
    """Create, read and list accounts."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, account_id: str) -> Account:
        async with self._engine.connect() as conn:
            found = await fetch_account(conn, account_id)
        if found is None:
            raise NotFound(f"no account {account_id!r}")
        return found

    async def list(self) -> list[Account]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(*_COLUMNS).order_by(accounts.c.id))).mappings().all()
        return [_account(row) for row in rows]

    async def ensure(self, account_id: str, *, prepaid: bool = False) -> tuple[Account, bool]:
        """The account, created when missing; the flag says whether it was created now."""
        async with self._engine.begin() as conn:
            found = await fetch_account(conn, account_id)
            if found is not None:
                return found, False
            return await insert_account(conn, account_id, prepaid=prepaid), True

    async def set_prepaid(self, account_id: str, prepaid: bool) -> Account:
        async with self._engine.begin() as conn:
            result = await conn.execute(sa.update(accounts).where(accounts.c.id == account_id).values(prepaid=prepaid))
            if result.rowcount == 0:
                raise NotFound(f"no account {account_id!r}")
            found = await fetch_account(conn, account_id)
        assert found is not None
        return found
