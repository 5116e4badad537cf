"""Overruns: a request that costs more than it reserved never drives a prepaid balance below zero.

What the balance cannot cover is the overrun: returned by ``settle``, kept as the account's
arrears (ledger rows and the cached column agree), and the account is refused until a
credit has paid it. Local mode (embedded SQLite, holds in memory) and shared mode (holds in
the database; SQLite with several workers, and PostgreSQL with several replicas).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from engine.errors import PaymentRequired
from engine.policy.compiled import GroupSpec
from engine.state.keys import NewKey
from engine.state.ledger import Hold, Ledger
from engine.state.records_json import balance_json
from engine.state.schema import accounts, api_keys, ledger
from engine.state.spend_rules import Caps
from engine.state.state import State
from tests.state.conftest import Backend, make_policy

DOLLAR = 1_000_000
POLICY = make_policy(default=GroupSpec("default"))


@dataclass
class Stored:
    balance: int
    reserved: int
    arrears: int
    rows_balance: int  # sum of the account's ledger amount_micros
    rows_arrears: int  # sum of its ledger overrun_micros
    key_spend: int


async def stored(state: State, account: str) -> Stored:
    async with state.engine.connect() as conn:
        row = (await conn.execute(sa.select(accounts).where(accounts.c.id == account))).mappings().one()
        sums = (
            await conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(ledger.c.amount_micros), 0),
                    sa.func.coalesce(sa.func.sum(ledger.c.overrun_micros), 0),
                ).where(ledger.c.account_id == account)
            )
        ).one()
        spend = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(api_keys.c.spend_micros), 0)))).scalar_one()
    return Stored(
        int(row["balance_micros"]),
        int(row["reserved_micros"]),
        int(row["arrears_micros"]),
        int(sums[0]),
        int(sums[1]),
        int(spend),
    )


@dataclass
class Case:
    state: State
    shared: bool
    books: list[Ledger]  # one per process (replica) of the gateway


@pytest.fixture(params=["sqlite-local", "sqlite-shared", "postgres-shared"])
def mode(request: pytest.FixtureRequest) -> tuple[Backend, bool]:
    name, kind = request.param.split("-")
    backend: Backend = request.getfixturevalue(f"{name}_backend")
    return backend, kind == "shared"


@pytest.fixture
async def case(mode: tuple[Backend, bool]) -> AsyncIterator[Case]:
    backend, shared = mode
    state = await backend.open()
    # local mode is one process; shared mode gets two replicas over the same database
    books = [Ledger(state.engine, shared=shared, flush_interval=0.01) for _ in range(2 if shared else 1)]
    for book in books:
        book.start()
    try:
        yield Case(state, shared, books)
    finally:
        for book in books:
            await book.close()
        await state.close()


async def refused(book: Ledger, account: str, amount: int = 0) -> PaymentRequired:
    with pytest.raises(PaymentRequired) as caught:
        await book.reserve(account, None, amount, Caps())
    return caught.value


async def test_an_overrun_empties_the_balance_and_is_owed_until_a_credit_pays_it(case: Case) -> None:
    book = case.books[0]
    created = await case.state.keys.create(NewKey("over", prepaid=True))
    await book.credit("over", DOLLAR)
    hold = await book.reserve("over", created.key.id, DOLLAR // 4, Caps())

    overrun = await book.settle(hold, 3 * DOLLAR)

    assert overrun == 2 * DOLLAR  # $1 charged (the hold and the rest of the balance), $2 not
    assert await book.settle(hold, 3 * DOLLAR) == 0  # settling twice charges nothing more
    await book.flush()
    after = await stored(case.state, "over")
    assert (after.balance, after.reserved, after.arrears) == (0, 0, 2 * DOLLAR)
    assert (after.rows_balance, after.rows_arrears) == (0, 2 * DOLLAR)
    assert after.key_spend == DOLLAR  # what was charged, not what was owed
    balance = await book.balance("over")
    assert (balance.balance_micros, balance.held_micros, balance.arrears_micros) == (0, 0, 2 * DOLLAR)
    assert balance_json(balance)["arrears_usd"] == 2.0

    for each in case.books:  # every replica refuses, even a request that may cost nothing
        error = await refused(each, "over")
        assert error.code == "insufficient_balance" and error.status == 402
        assert "previous request cost more than was reserved" in error.message and "$2.00" in error.message
        assert "top up" in error.message

    await book.credit("over", DOLLAR // 2, "part")  # pays $0.50 of the $2 owed: still refused
    partly = await stored(case.state, "over")
    assert (partly.balance, partly.arrears) == (0, 3 * DOLLAR // 2)
    assert "$1.50" in (await refused(case.books[-1], "over")).message

    await book.credit("over", 5 * DOLLAR, "top-up")  # pays the last $1.50, keeps $3.50
    paid = await stored(case.state, "over")
    assert (paid.balance, paid.arrears) == (7 * DOLLAR // 2, 0)
    assert (paid.rows_balance, paid.rows_arrears) == (paid.balance, 0)
    for each in case.books:
        await each.refresh()
        hold = await each.reserve("over", created.key.id, DOLLAR, Caps())
        assert await each.settle(hold, DOLLAR // 2) == 0
        await each.flush()
    final = await stored(case.state, "over")
    assert (final.balance, final.arrears, final.reserved) == (7 * DOLLAR // 2 - len(case.books) * DOLLAR // 2, 0, 0)
    assert final.rows_balance == final.balance
    async with case.state.engine.connect() as conn:
        kinds = (
            await conn.execute(
                sa.select(ledger.c.kind, ledger.c.amount_micros, ledger.c.overrun_micros)
                .where(ledger.c.account_id == "over")
                .order_by(ledger.c.id)
            )
        ).all()
    assert [tuple(k) for k in kinds[:6]] == [
        ("credit", DOLLAR, 0),
        ("charge", -DOLLAR, 2 * DOLLAR),
        ("credit", DOLLAR // 2, 0),
        ("arrears", -DOLLAR // 2, -DOLLAR // 2),
        ("credit", 5 * DOLLAR, 0),
        ("arrears", -3 * DOLLAR // 2, -3 * DOLLAR // 2),
    ]


async def test_concurrent_overruns_leave_exactly_zero(case: Case) -> None:
    """Every request costs more than it held: the balance ends at exactly 0, never below,
    and what was charged plus what is owed is what the requests cost."""
    created = await case.state.keys.create(NewKey("rush", prepaid=True))
    await case.books[0].credit("rush", 10 * DOLLAR)
    for book in case.books:
        await book.refresh()
    holds: list[tuple[Ledger, Hold]] = []
    for i in range(10):  # the whole balance is held, $1 per request, spread over the replicas
        book = case.books[i % len(case.books)]
        holds.append((book, await book.reserve("rush", created.key.id, DOLLAR, Caps())))
    for book in case.books:
        assert (await refused(book, "rush", 1)).code == "insufficient_balance"
    rng = random.Random(11)
    costs = [rng.randint(DOLLAR + 1, 3 * DOLLAR) for _ in holds]

    async def settle(i: int) -> int:
        await asyncio.sleep(0.001 * (i % 4))
        book, hold = holds[i]
        return await book.settle(hold, costs[i])

    overruns = await asyncio.gather(*(settle(i) for i in range(len(holds))))
    for book in case.books:
        await book.flush()
    after = await stored(case.state, "rush")
    assert after.balance == 0 and after.reserved == 0
    assert sum(overruns) == sum(costs) - 10 * DOLLAR == after.arrears
    assert all(o >= 0 for o in overruns) and all(o <= c - DOLLAR for o, c in zip(overruns, costs, strict=True))
    assert (after.rows_balance, after.rows_arrears) == (0, after.arrears)
    assert after.key_spend == 10 * DOLLAR
    for book in case.books:
        assert "previous request cost more" in (await refused(book, "rush")).message


async def test_many_flows_with_random_costs_keep_every_sum(case: Case) -> None:
    """200 flows over the replicas reserve $1 each at once (40 fit), then settle at once at
    $0.50-$3 each: the balance is never negative, not even while they run, and charges +
    arrears = the cost of every flow."""
    created = await case.state.keys.create(NewKey("mixed", prepaid=True))
    await case.books[0].credit("mixed", 40 * DOLLAR)
    rng = random.Random(5)
    costs = [rng.randint(DOLLAR // 2, 3 * DOLLAR) for _ in range(200)]
    charged: list[int] = []
    owed: list[int] = []
    admitted: list[int] = []
    tried: list[int] = []
    all_tried = asyncio.Event()

    async def flow(i: int) -> None:
        book = case.books[i % len(case.books)]
        try:
            hold = await book.reserve("mixed", created.key.id, DOLLAR, Caps())
        except PaymentRequired as exc:
            assert exc.code == "insufficient_balance"
            return
        finally:
            tried.append(i)
            if len(tried) == len(costs):
                all_tried.set()
        await all_tried.wait()
        await asyncio.sleep(0.001 * (i % 3))
        overrun = await book.settle(hold, costs[i])
        assert 0 <= overrun <= max(costs[i] - DOLLAR, 0)
        charged.append(costs[i] - overrun)
        owed.append(overrun)
        admitted.append(i)

    done = asyncio.Event()

    async def watch() -> None:  # the database never shows a negative balance meanwhile
        while not done.is_set():
            async with case.state.engine.connect() as conn:
                balance = (
                    await conn.execute(sa.select(accounts.c.balance_micros).where(accounts.c.id == "mixed"))
                ).scalar_one()
            assert balance >= 0
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(flow(i) for i in range(200)))
    done.set()
    await watcher
    for book in case.books:
        await book.flush()
    after = await stored(case.state, "mixed")
    assert len(admitted) == 40 and sum(owed) > 0
    assert after.balance == 40 * DOLLAR - sum(charged) >= 0
    assert after.arrears == sum(owed) and after.reserved == 0
    assert (after.rows_balance, after.rows_arrears) == (after.balance, after.arrears)
    assert after.key_spend == sum(charged)
    assert sum(charged) + sum(owed) == sum(costs[i] for i in admitted)


async def test_the_gate_returns_the_overrun_in_usd_and_refuses_the_key(state: State) -> None:
    created = await state.keys.create(NewKey("gated", prepaid=True))
    await state.ledger.credit("gated", DOLLAR // 2)
    principal = await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    reservation = await state.gate.reserve(principal, 0.1)

    assert await state.gate.settle(reservation, 1.75) == 1.25
    assert await state.gate.settle(reservation, 1.75) == 0.0

    with pytest.raises(PaymentRequired) as caught:  # at once, before the charge is written
        await state.gate.reserve(principal, 0.0)
    assert caught.value.code == "insufficient_balance" and "$1.25" in caught.value.message
    await state.ledger.flush()
    assert (await state.ledger.balance("gated")).balance_micros == 0
    with pytest.raises(PaymentRequired):
        await state.gate.reserve(principal, 0.0)
    await state.ledger.credit("gated", 2 * DOLLAR)
    again = await state.gate.reserve(principal, 0.5)
    assert await state.gate.settle(again, 0.25) == 0.0
    await state.ledger.flush()
    balance = await state.ledger.balance("gated")
    assert (balance.balance_micros, balance.arrears_micros) == (DOLLAR // 2, 0)


async def test_postpaid_accounts_are_charged_in_full_without_overrun(state: State) -> None:
    created = await state.keys.create(NewKey("tab"))
    principal = await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    reservation = await state.gate.reserve(principal, 0.1)
    assert await state.gate.settle(reservation, 2.5) == 0.0
    await state.ledger.flush()
    balance = await state.ledger.balance("tab")
    assert (balance.balance_micros, balance.arrears_micros) == (-5 * DOLLAR // 2, 0)
    assert await state.gate.settle(await state.gate.reserve(principal, 0.1), 0.5) == 0.0  # not refused
    await state.ledger.flush()
    assert (await stored(state, "tab")).rows_balance == -3 * DOLLAR


async def test_an_account_made_prepaid_mid_request_is_capped_too(state: State) -> None:
    created = await state.keys.create(NewKey("switch"))  # postpaid: the hold takes no money
    principal = await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    reservation = await state.gate.reserve(principal, 0.1)
    await state.accounts.set_prepaid("switch", True)
    await state.ledger.credit("switch", DOLLAR)
    await state.ledger.refresh()
    assert await state.gate.settle(reservation, 1.5) == 0.5
    await state.ledger.flush()
    after = await stored(state, "switch")
    assert (after.balance, after.arrears, after.reserved) == (0, DOLLAR // 2, 0)


async def test_a_credit_from_another_process_pays_the_arrears(sqlite_backend: Backend) -> None:
    state = await sqlite_backend.open()
    try:
        created = await state.keys.create(NewKey("cli-paid", prepaid=True))
        await state.ledger.credit("cli-paid", DOLLAR)
        hold = await state.ledger.reserve("cli-paid", created.key.id, DOLLAR, Caps())
        assert await state.ledger.settle(hold, 4 * DOLLAR) == 3 * DOLLAR
        await state.ledger.flush()
        other = Ledger(state.engine, shared=False)  # as `turnout credits add` would, in its own process
        await other.credit("cli-paid", 5 * DOLLAR, "cli")
        await other.close()
        await refused(state.ledger, "cli-paid")  # not seen before the next refresh
        await state.ledger.refresh()
        assert (await state.ledger.reserve("cli-paid", created.key.id, 2 * DOLLAR, Caps())).held_micros == 2 * DOLLAR
        assert (await state.ledger.balance("cli-paid")).available_micros == 0
    finally:
        await state.close()


async def test_reconcile_rebuilds_the_arrears_from_the_ledger(postgres_backend: Backend) -> None:
    state = await postgres_backend.open()
    try:
        await state.keys.create(NewKey("drift", prepaid=True))
        await state.ledger.credit("drift", DOLLAR)
        hold = await state.ledger.reserve("drift", None, DOLLAR, Caps())
        assert await state.ledger.settle(hold, 2 * DOLLAR) == DOLLAR
        await state.ledger.flush()
        async with state.engine.begin() as conn:
            await conn.execute(sa.update(accounts).values(arrears_micros=0, balance_micros=7))
        assert await state.ledger.reconcile("drift") == (7, 0)
        after = await stored(state, "drift")
        assert (after.balance, after.arrears) == (0, DOLLAR)
    finally:
        await state.close()
