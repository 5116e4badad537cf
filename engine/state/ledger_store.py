"""The ledger's SQL: credit rows, batched charge rows, the hold statements, reconciliation.

``accounts.balance_micros`` is the cached sum of the account's ``ledger.amount_micros`` and
``accounts.arrears_micros`` the cached sum of its ``ledger.overrun_micros``; both only ever
change in the same transaction as the rows they sum. ``reserved_micros`` holds the
in-flight reservations of shared-mode replicas (see ``engine.state.ledger``).

Arrears are cost a prepaid balance could not cover (an overrun, never charged, so the
balance stays >= 0). A credit pays them first: its ``credit`` row adds the whole amount and
an ``arrears`` row takes back the part that pays them (``amount_micros`` and
``overrun_micros`` both negative), so both sums stay exact.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.state.db import upsert_adding
from engine.state.errors import NotFound
from engine.state.schema import accounts, api_keys, key_spend, ledger
from engine.state.spend_rules import day_period, month_period


@dataclass(frozen=True, slots=True)
class Charge:
    """A settled request: what to charge and how much of a database hold to release."""

    account_id: str
    key_id: str | None
    reservation_id: str | None
    amount_micros: int  # the cost charged, >= 0
    release_micros: int  # the hold in accounts.reserved_micros (0 when held in memory)
    at: datetime
    overrun_micros: int = 0  # the cost not charged: the prepaid balance could not cover it


class StoredAccount(NamedTuple):
    prepaid: bool
    balance: int
    reserved: int
    arrears: int


# One conditional UPDATE takes a hold: it succeeds only while the balance covers it and
# the account has no arrears.
_amount = sa.bindparam("amount", type_=sa.BigInteger)
HOLD = (
    sa.update(accounts)
    .where(
        accounts.c.id == sa.bindparam("account_id"),
        accounts.c.balance_micros - accounts.c.reserved_micros >= _amount,
        accounts.c.arrears_micros == 0,
    )
    .values(reserved_micros=accounts.c.reserved_micros + _amount)
    .returning(accounts.c.balance_micros - accounts.c.reserved_micros)
)


async def _lock_account(conn: AsyncConnection, account_id: str) -> tuple[int, int, int]:
    """``(balance, reserved, arrears)``, the row locked until the transaction ends.

    PostgreSQL locks the row (``FOR NO KEY UPDATE``: only its amounts change, so ledger
    inserts referencing it are not blocked); SQLite transactions here start with ``BEGIN
    IMMEDIATE`` (see ``engine.state.db``), so they already hold the database's write lock.
    """
    row = (
        await conn.execute(
            sa.select(accounts.c.balance_micros, accounts.c.reserved_micros, accounts.c.arrears_micros)
            .where(accounts.c.id == account_id)
            .with_for_update(key_share=True)
        )
    ).first()
    if row is None:
        raise NotFound(f"no account {account_id!r}")
    return int(row[0]), int(row[1]), int(row[2])


async def credit(
    conn: AsyncConnection, account_id: str, amount_micros: int, note: str | None, at: datetime
) -> tuple[int, int]:
    """Add a credit row, pay the arrears from it first; returns the new (balance, arrears).

    Only the credit itself pays arrears, never money already in the balance: that money may
    back holds this process cannot see (another process's in-memory holds in local mode).
    """
    _balance, _reserved, arrears = await _lock_account(conn, account_id)
    paid = min(arrears, max(amount_micros, 0))
    result = await conn.execute(
        sa.update(accounts)
        .where(accounts.c.id == account_id)
        .values(
            balance_micros=accounts.c.balance_micros + (amount_micros - paid),
            arrears_micros=accounts.c.arrears_micros - paid,
        )
        .returning(accounts.c.balance_micros, accounts.c.arrears_micros)
    )
    balance, left = result.one()
    rows: list[dict[str, Any]] = [
        {"kind": "credit", "amount_micros": amount_micros, "overrun_micros": 0, "note": note},
    ]
    if paid:
        rows.append(
            {
                "kind": "arrears",
                "amount_micros": -paid,
                "overrun_micros": -paid,
                "note": "pays the cost earlier requests ran over their reservations",
            }
        )
    await conn.execute(sa.insert(ledger), [{"account_id": account_id, "at": at, **row} for row in rows])
    return int(balance), int(left)


async def take_up_to(conn: AsyncConnection, account_id: str, amount_micros: int) -> int:
    """Add up to ``amount_micros`` to the account's holds, as much as its free balance covers
    (``balance - reserved``); returns the amount taken. Shared mode, when a request cost more
    than it reserved: the database serialises this with every hold and charge."""
    balance, reserved, _arrears = await _lock_account(conn, account_id)
    taken = min(max(amount_micros, 0), max(balance - reserved, 0))
    if taken:
        await conn.execute(
            sa.update(accounts)
            .where(accounts.c.id == account_id)
            .values(reserved_micros=accounts.c.reserved_micros + taken)
        )
    return taken


async def apply_charges(conn: AsyncConnection, charges: list[Charge]) -> None:
    """Write ``charges`` as ledger rows and move balances, key spend and holds, in one transaction."""
    rows = [
        {
            "account_id": c.account_id,
            "at": c.at,
            "kind": "charge",
            "amount_micros": -c.amount_micros,
            "key_id": c.key_id,
            "reservation_id": c.reservation_id,
            "note": None,
            "overrun_micros": c.overrun_micros,
        }
        for c in charges
        if c.amount_micros or c.overrun_micros
    ]
    if rows:
        await conn.execute(sa.insert(ledger), rows)
    per_account: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    per_key: dict[str, int] = defaultdict(int)
    per_period: dict[tuple[str, str], int] = defaultdict(int)
    for c in charges:
        per_account[c.account_id][0] += c.amount_micros
        per_account[c.account_id][1] += c.release_micros
        per_account[c.account_id][2] += c.overrun_micros
        if c.key_id is not None and c.amount_micros:
            per_key[c.key_id] += c.amount_micros
            per_period[(c.key_id, day_period(c.at))] += c.amount_micros
            per_period[(c.key_id, month_period(c.at))] += c.amount_micros
    remaining = accounts.c.reserved_micros - sa.bindparam("release", type_=sa.BigInteger)
    await conn.execute(
        sa.update(accounts)
        .where(accounts.c.id == sa.bindparam("account"))
        .values(
            balance_micros=accounts.c.balance_micros - sa.bindparam("charged", type_=sa.BigInteger),
            # a hold lost in a database crash must not turn into extra credit
            reserved_micros=sa.case((remaining < 0, 0), else_=remaining),
            arrears_micros=accounts.c.arrears_micros + sa.bindparam("overrun", type_=sa.BigInteger),
        ),
        [{"account": a, "charged": v[0], "release": v[1], "overrun": v[2]} for a, v in sorted(per_account.items())],
    )
    if per_key:
        await conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == sa.bindparam("key"))
            .values(spend_micros=api_keys.c.spend_micros + sa.bindparam("charged", type_=sa.BigInteger)),
            [{"key": k, "charged": v} for k, v in sorted(per_key.items())],
        )
        await conn.execute(
            upsert_adding(
                conn.dialect.name,
                key_spend,
                [{"key_id": k, "period": p, "spend_micros": v} for (k, p), v in sorted(per_period.items())],
                ["key_id", "period"],
                ["spend_micros"],
            )
        )


async def read_accounts(conn: AsyncConnection, account_ids: list[str]) -> dict[str, StoredAccount]:
    """The stored state of the accounts that exist, by id."""
    found: dict[str, StoredAccount] = {}
    for start in range(0, len(account_ids), 500):
        chunk = account_ids[start : start + 500]
        rows = await conn.execute(
            sa.select(
                accounts.c.id,
                accounts.c.prepaid,
                accounts.c.balance_micros,
                accounts.c.reserved_micros,
                accounts.c.arrears_micros,
            ).where(accounts.c.id.in_(chunk))
        )
        for account_id, prepaid, balance, reserved, arrears in rows:
            found[str(account_id)] = StoredAccount(bool(prepaid), int(balance), int(reserved), int(arrears))
    return found


async def ledger_sums(conn: AsyncConnection, account_id: str) -> tuple[int, int]:
    """``(sum of amount_micros, sum of overrun_micros)`` of the account's ledger rows."""
    total = await conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(ledger.c.amount_micros), 0),
            sa.func.coalesce(sa.func.sum(ledger.c.overrun_micros), 0),
        ).where(ledger.c.account_id == account_id)
    )
    balance, arrears = total.one()
    return int(balance), int(arrears)


async def reconcile(conn: AsyncConnection, account_id: str) -> tuple[int, int]:
    """Recompute the cached balance and arrears from the ledger and drop every hold; returns
    (old, new) balance.

    Only safe while no request of this account is in flight (e.g. with the gateway stopped):
    it repairs holds leaked by a replica that crashed mid-request.
    """
    row = (await conn.execute(sa.select(accounts.c.balance_micros).where(accounts.c.id == account_id))).scalar()
    if row is None:
        raise NotFound(f"no account {account_id!r}")
    new, arrears = await ledger_sums(conn, account_id)
    await conn.execute(
        sa.update(accounts)
        .where(accounts.c.id == account_id)
        .values(balance_micros=new, reserved_micros=0, arrears_micros=arrears)
    )
    return int(row), new
