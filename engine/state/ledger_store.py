"""The ledger's SQL: credit rows, batched charge rows, the hold statement, reconciliation.

``accounts.balance_micros`` is the cached sum of the account's ``ledger`` rows and is only
ever changed in the same transaction as the rows it sums. ``reserved_micros`` holds the
in-flight reservations of shared-mode replicas (see ``engine.state.ledger``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.state.db import upsert_adding
from engine.state.errors import NotFound
from engine.state.schema import accounts, api_keys, key_spend, ledger
from engine.state.spend import day_period, month_period


@dataclass(frozen=True, slots=True)
class Charge:
    """A settled request: what to charge and how much of a database hold to release."""

    account_id: str
    key_id: str | None
    reservation_id: str | None
    amount_micros: int  # the actual cost, >= 0
    release_micros: int  # the hold in accounts.reserved_micros (0 when held in memory)
    at: datetime


# One conditional UPDATE takes a hold: it succeeds only while the balance covers it.
_amount = sa.bindparam("amount", type_=sa.BigInteger)
HOLD = (
    sa.update(accounts)
    .where(
        accounts.c.id == sa.bindparam("account_id"),
        accounts.c.balance_micros - accounts.c.reserved_micros >= _amount,
    )
    .values(reserved_micros=accounts.c.reserved_micros + _amount)
    .returning(accounts.c.balance_micros - accounts.c.reserved_micros)
)


async def credit(conn: AsyncConnection, account_id: str, amount_micros: int, note: str | None, at: datetime) -> int:
    """Add a credit row and return the new balance."""
    result = await conn.execute(
        sa.update(accounts)
        .where(accounts.c.id == account_id)
        .values(balance_micros=accounts.c.balance_micros + amount_micros)
        .returning(accounts.c.balance_micros)
    )
    balance = result.scalar()
    if balance is None:
        raise NotFound(f"no account {account_id!r}")
    await conn.execute(
        sa.insert(ledger).values(account_id=account_id, at=at, kind="credit", amount_micros=amount_micros, note=note)
    )
    return int(balance)


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
        }
        for c in charges
        if c.amount_micros
    ]
    if rows:
        await conn.execute(sa.insert(ledger), rows)
    per_account: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_key: dict[str, int] = defaultdict(int)
    per_period: dict[tuple[str, str], int] = defaultdict(int)
    for c in charges:
        per_account[c.account_id][0] += c.amount_micros
        per_account[c.account_id][1] += c.release_micros
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
        ),
        [{"account": a, "charged": v[0], "release": v[1]} for a, v in sorted(per_account.items())],
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


async def read_accounts(conn: AsyncConnection, account_ids: list[str]) -> dict[str, tuple[bool, int, int]]:
    """``id -> (prepaid, balance, reserved)`` for the accounts that exist."""
    found: dict[str, tuple[bool, int, int]] = {}
    for start in range(0, len(account_ids), 500):
        chunk = account_ids[start : start + 500]
        rows = await conn.execute(
            sa.select(accounts.c.id, accounts.c.prepaid, accounts.c.balance_micros, accounts.c.reserved_micros).where(
                accounts.c.id.in_(chunk)
            )
        )
        for account_id, prepaid, balance, reserved in rows:
            found[str(account_id)] = (bool(prepaid), int(balance), int(reserved))
    return found


async def ledger_sum(conn: AsyncConnection, account_id: str) -> int:
    total = await conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_micros), 0)).where(ledger.c.account_id == account_id)
    )
    return int(total.scalar_one())


async def reconcile(conn: AsyncConnection, account_id: str) -> tuple[int, int]:
    """Recompute the cached balance from the ledger and drop every hold; returns (old, new) balance.

    Only safe while no request of this account is in flight (e.g. with the gateway stopped):
    it repairs holds leaked by a replica that crashed mid-request.
    """
    row = (await conn.execute(sa.select(accounts.c.balance_micros).where(accounts.c.id == account_id))).scalar()
    if row is None:
        raise NotFound(f"no account {account_id!r}")
    new = await ledger_sum(conn, account_id)
    await conn.execute(
        sa.update(accounts).where(accounts.c.id == account_id).values(balance_micros=new, reserved_micros=0)
    )
    return int(row), new
