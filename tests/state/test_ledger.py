"""The ledger under concurrency: never below zero, charges sum exactly to usage."""

from __future__ import annotations

import asyncio
import random

import pytest
import sqlalchemy as sa

from engine.errors import PaymentRequired
from engine.state.keys import NewKey
from engine.state.ledger import Ledger
from engine.state.money import format_usd
from engine.state.schema import accounts, api_keys, key_spend, ledger
from engine.state.spend_rules import Caps
from tests.state.conftest import Backend

DOLLAR = 1_000_000


@pytest.fixture(params=["sqlite-local", "sqlite-shared", "postgres-shared"])
def ledger_case(request: pytest.FixtureRequest) -> tuple[Backend, bool]:
    name, mode = request.param.split("-")
    backend: Backend = request.getfixturevalue(f"{name}_backend")
    return backend, mode == "shared"


async def test_200_concurrent_flows_never_overdraw(ledger_case: tuple[Backend, bool]) -> None:
    backend, shared = ledger_case
    state = await backend.open()
    book = Ledger(state.engine, shared=shared, flush_interval=0.01)
    book.start()
    try:
        created = await state.keys.create(NewKey("payer", prepaid=True))
        await book.credit("payer", 50 * DOLLAR, "top-up")
        rng = random.Random(7)
        actual = [rng.randint(0, DOLLAR) for _ in range(200)]
        outstanding = charged = 0
        admitted: list[int] = []
        rejected = 0

        async def flow(i: int) -> None:
            nonlocal outstanding, charged, rejected
            try:
                hold = await book.reserve("payer", created.key.id, DOLLAR, Caps())
            except PaymentRequired as exc:
                assert exc.code == "insufficient_balance"
                rejected += 1
                return
            outstanding += DOLLAR
            assert outstanding + charged <= 50 * DOLLAR, "a hold was granted beyond the balance"
            await asyncio.sleep(0.001 * (i % 3))  # overlap with other flows
            await book.settle(hold, actual[i])
            outstanding -= DOLLAR
            charged += actual[i]
            admitted.append(i)

        await asyncio.gather(*(flow(i) for i in range(200)))
        await book.flush()
        assert len(admitted) + rejected == 200
        assert len(admitted) >= 50 and rejected > 0
        expected_spend = sum(actual[i] for i in admitted)
        async with state.engine.connect() as conn:
            row = (await conn.execute(sa.select(accounts).where(accounts.c.id == "payer"))).mappings().one()
            rows_sum = (
                await conn.execute(sa.select(sa.func.sum(ledger.c.amount_micros)).where(ledger.c.account_id == "payer"))
            ).scalar_one()
            charges = (
                await conn.execute(
                    sa.select(sa.func.count(), sa.func.sum(ledger.c.amount_micros)).where(ledger.c.kind == "charge")
                )
            ).one()
            key_total = (await conn.execute(sa.select(api_keys.c.spend_micros))).scalar_one()
            day_total = (await conn.execute(sa.select(sa.func.sum(key_spend.c.spend_micros)))).scalar_one()
        assert row["balance_micros"] >= 0, format_usd(row["balance_micros"])
        assert row["balance_micros"] == 50 * DOLLAR - expected_spend
        assert row["reserved_micros"] == 0
        assert rows_sum == row["balance_micros"]
        assert charges[0] == sum(1 for i in admitted if actual[i]) and -charges[1] == expected_spend
        assert key_total == expected_spend
        assert day_total == 2 * expected_spend  # once in the day period, once in the month period
        balance = await book.balance("payer")
        assert balance.balance_micros == row["balance_micros"] and balance.held_micros == 0
    finally:
        await book.close()
        await state.close()


async def test_full_charge_admits_exactly_what_the_balance_covers(ledger_case: tuple[Backend, bool]) -> None:
    backend, shared = ledger_case
    state = await backend.open()
    book = Ledger(state.engine, shared=shared, flush_interval=0.01)
    book.start()
    try:
        await state.keys.create(NewKey("exact", prepaid=True))
        await book.credit("exact", 50 * DOLLAR)

        async def flow() -> bool:
            try:
                hold = await book.reserve("exact", None, DOLLAR, Caps())
            except PaymentRequired:
                return False
            await asyncio.sleep(0)
            await book.settle(hold, DOLLAR)
            return True

        results = await asyncio.gather(*(flow() for _ in range(200)))
        await book.flush()
        assert sum(results) == 50
        assert (await book.balance("exact")).balance_micros == 0
    finally:
        await book.close()
        await state.close()


async def test_credit_from_another_process_is_seen(sqlite_backend: Backend) -> None:
    state = await sqlite_backend.open()
    try:
        created = await state.keys.create(NewKey("topup", prepaid=True))
        principal_ledger = state.ledger
        assert not principal_ledger.shared
        with pytest.raises(PaymentRequired):
            await principal_ledger.reserve("topup", created.key.id, DOLLAR, Caps())
        other = Ledger(state.engine, shared=False)  # as the CLI would, in its own process
        await other.credit("topup", 2 * DOLLAR, "cli")
        await other.close()
        await principal_ledger.refresh()
        hold = await principal_ledger.reserve("topup", created.key.id, DOLLAR, Caps())
        assert hold.held_micros == DOLLAR
    finally:
        await state.close()


async def test_reconcile_drops_leaked_holds(postgres_backend: Backend) -> None:
    state = await postgres_backend.open()
    try:
        await state.keys.create(NewKey("leaky", prepaid=True))
        await state.ledger.credit("leaky", 3 * DOLLAR)
        await state.ledger.reserve("leaky", None, 2 * DOLLAR, Caps())  # never settled: a crashed request
        assert (await state.ledger.balance("leaky")).available_micros == DOLLAR
        old, new = await state.ledger.reconcile("leaky")
        assert old == new == 3 * DOLLAR
        assert (await state.ledger.balance("leaky")).available_micros == 3 * DOLLAR
    finally:
        await state.close()
