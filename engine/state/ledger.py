"""Balances and reservations: hold the worst case before the upstream call, charge the actual after.

Every credit and charge is a ``ledger`` row; ``accounts.balance_micros`` caches their sum.
Two ways to hold money, chosen at start:

* **local** (the embedded SQLite store, one process): holds live in memory against a
  cached balance, so ``reserve`` does no I/O. Nobody else spends from these accounts,
  so the cached balance minus unflushed charges minus holds is exact.
* **shared** (PostgreSQL, or several processes): ``reserve`` is one conditional
  ``UPDATE accounts SET reserved = reserved + x WHERE balance - reserved >= x``, which
  the database serialises per account row, so concurrent replicas never overdraw.
  Postpaid accounts take no hold at all.

``settle`` queues a ``Charge``; a background writer (``Batcher``) writes the charge rows,
moves the balances and releases the holds in one transaction per batch. Until then the
hold keeps covering the charge, so balances stay conservative.

**A prepaid balance never goes below zero.** When a request costs more than it held (an
upstream returned more tokens than the worst case allowed for), ``settle`` charges what
the balance can cover and no more: the hold, plus whatever of the rest of the balance no
other hold counts on. Local mode knows that exactly from its view; shared mode takes it
with one more conditional update (``take_up_to``, rare path), serialised by the database
with every hold and charge. The remainder is the **overrun**: never charged, returned by
``settle`` (for the usage row) and added to the account's arrears. An account in arrears
is refused (402 ``insufficient_balance``) until a credit has paid them: credits pay
arrears first. Postpaid accounts are charged in full and never have an overrun.

Crash semantics: a crash loses the charges settled in the last flush interval (those
requests go unbilled; their usage rows may be lost the same way). In shared mode the holds
of requests in flight at the crash stay counted in ``reserved_micros`` (the account looks
poorer, never richer) until ``reconcile`` runs with the gateway stopped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.access import Reservation
from engine.errors import PaymentRequired
from engine.state.batcher import Batcher
from engine.state.errors import NotFound
from engine.state.lanes import HoldLanes
from engine.state.ledger_store import (
    Charge,
    StoredAccount,
    apply_charges,
    credit,
    read_accounts,
    reconcile,
    take_up_to,
)
from engine.state.money import format_usd, micros_to_usd
from engine.state.single_flight import SingleFlight
from engine.state.spend import SpendBook
from engine.state.spend_rules import Caps, insufficient_balance

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Hold(Reservation):
    """A ``Reservation`` with what ``settle`` needs to release it."""

    key_id: str | None = None
    held_micros: int = 0
    in_database: bool = False  # held in accounts.reserved_micros (shared mode)
    in_memory: bool = False  # held in the cached balance (local mode)
    settled: bool = False

    @property
    def prepaid(self) -> bool:
        """The hold took prepaid money (a postpaid account holds nothing)."""
        return self.in_database or self.in_memory


@dataclass(slots=True)
class _AccountView:
    prepaid: bool
    stored: int  # balance in the database as last read or written by us
    unflushed: int = 0  # charged here, not yet written
    held: int = 0  # local-mode holds
    arrears_stored: int = 0  # arrears in the database as last read or written by us
    arrears_unflushed: int = 0  # overruns settled here, not yet written

    @property
    def available(self) -> int:
        return self.stored - self.unflushed - self.held

    @property
    def arrears(self) -> int:
        return self.arrears_stored + self.arrears_unflushed

    def store(self, found: StoredAccount) -> None:
        self.prepaid, self.stored, self.arrears_stored = found.prepaid, found.balance, found.arrears


@dataclass(frozen=True, slots=True)
class Balance:
    account_id: str
    prepaid: bool
    balance_micros: int  # credits minus charges, including charges not yet written
    held_micros: int  # reserved by requests in flight
    arrears_micros: int = 0  # overruns not yet paid by a credit (the account is refused meanwhile)

    @property
    def available_micros(self) -> int:
        return self.balance_micros - self.held_micros


class Ledger:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        shared: bool,
        flush_interval: float = 0.1,
        refresh_interval: float = 1.0,
        lanes: int = 4,
    ) -> None:
        self._engine = engine
        self.shared = shared
        self._lanes = HoldLanes(engine, lanes) if shared else None
        self._views: dict[str, _AccountView] = {}
        self._spend = SpendBook()
        self._view_loads: SingleFlight[str, _AccountView] = SingleFlight()
        self._spend_loads: SingleFlight[str, None] = SingleFlight()
        self._sync = asyncio.Lock()  # orders flushes, refreshes and credits against the views
        self._writer: Batcher[Charge] = Batcher(self._write, name="ledger", interval=flush_interval)
        self._refresh_interval = refresh_interval
        self._refresher: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._overruns: set[asyncio.Task[int]] = set()  # shared-mode settles taking more than their hold

    def start(self) -> None:
        self._writer.start()
        self._refresher = asyncio.create_task(self._refresh_loop(), name="turnout-ledger-refresh")

    # ---- request path -------------------------------------------------------------

    async def reserve(self, account_id: str, key_id: str | None, amount_micros: int, caps: Caps) -> Hold:
        """Hold ``amount_micros`` or raise ``PaymentRequired`` (insufficient_balance,
        quota_exceeded, budget_exceeded)."""
        amount = max(amount_micros, 0)
        now = datetime.now(UTC)
        view = self._views.get(account_id) or await self._view_loads.run(
            account_id, lambda: self._load_view(account_id)
        )
        if key_id is not None and caps.any:
            if self._spend.needs_load(key_id, now):
                await self._spend_loads.run(key_id, lambda: self._load_spend(key_id, now))
            self._spend.check(key_id, caps, amount, now)
        in_database = in_memory = False
        if view.prepaid:
            if self._lanes is not None:
                if view.arrears_unflushed > 0:  # an overrun here, not yet written
                    raise self._in_arrears(view.arrears)
                if await self._lanes.hold(account_id, amount) is None:
                    raise await self._refusal(account_id, amount)
                in_database = True
            else:
                if view.arrears > 0:
                    raise self._in_arrears(view.arrears)
                if view.available < amount:
                    raise insufficient_balance(amount, view.available)
                view.held += amount
                in_memory = True
        if key_id is not None:
            self._spend.hold(key_id, amount)
        return Hold(
            secrets.token_hex(8),
            account_id,
            micros_to_usd(amount),
            key_id=key_id,
            held_micros=amount,
            in_database=in_database,
            in_memory=in_memory,
        )

    @staticmethod
    def _in_arrears(arrears: int) -> PaymentRequired:
        return PaymentRequired(
            f"insufficient balance: the previous request cost more than was reserved and {format_usd(arrears)} "
            "of it could not be paid from the balance; top up the account (credits pay this first)",
            code="insufficient_balance",
        )

    async def _refusal(self, account_id: str, amount: int) -> PaymentRequired:
        """Why the database refused a hold (shared mode): arrears, or not enough balance."""
        try:
            async with self._engine.connect() as conn:
                found = (await read_accounts(conn, [account_id])).get(account_id)
        except (SQLAlchemyError, OSError):
            found = None
        if found is not None and found.arrears > 0:
            return self._in_arrears(found.arrears)
        available = max(found.balance - found.reserved, 0) if found is not None else None
        return insufficient_balance(amount, available)

    async def settle(self, hold: Hold, actual_micros: int) -> int:
        """Charge the actual cost and release the hold; returns the overrun, the cost not charged.

        Prepaid: at most what the balance covers (see the module docstring), so the overrun
        is 0 unless the balance ran out. The write happens in the background.
        """
        if hold.settled or hold.account_id is None:
            return 0
        hold.settled = True
        actual = max(actual_micros, 0)
        view = self._views.get(hold.account_id)
        held_in_database = hold.held_micros if hold.in_database else 0
        if hold.in_memory and view is not None:
            view.held -= hold.held_micros
        # the account as it is now: one switched to postpaid is charged in full; one switched
        # to prepaid while this request was in flight (it held nothing) is capped all the same
        prepaid = view.prepaid if view is not None else hold.prepaid
        if not prepaid:
            charged = actual
        elif self._lanes is None:  # local: exact, every hold and unwritten charge is in the view
            charged = min(actual, max(view.available, 0)) if view is not None else min(actual, hold.held_micros)
        elif actual > held_in_database:
            # one more round trip; shielded so that a cancelled caller still settles (and releases) it
            task = asyncio.create_task(
                self._settle_beyond_hold(hold, actual, held_in_database), name="turnout-ledger-overrun"
            )
            self._overruns.add(task)
            task.add_done_callback(self._overruns.discard)
            return await asyncio.shield(task)
        else:
            charged = actual
        self._queue(hold, charged, actual - charged, held_in_database)
        return actual - charged

    async def _settle_beyond_hold(self, hold: Hold, actual: int, held: int) -> int:
        """Shared mode: take what the free balance covers beyond the hold, charge hold + that."""
        assert hold.account_id is not None
        extra = 0
        try:
            async with self._engine.begin() as conn:
                extra = await take_up_to(conn, hold.account_id, actual - held)
        except (SQLAlchemyError, OSError) as exc:  # charge the hold only: never more than it is sure of
            log.warning("could not charge the cost beyond a hold of account %s (%s)", hold.account_id, exc)
        charged = held + extra
        self._queue(hold, charged, actual - charged, charged)
        return actual - charged

    def _queue(self, hold: Hold, charged: int, overrun: int, release: int) -> None:
        assert hold.account_id is not None
        now = datetime.now(UTC)
        view = self._views.get(hold.account_id)
        if view is not None:
            view.unflushed += charged
            view.arrears_unflushed += overrun
        if overrun:
            log.warning(
                "request cost %s, %s more than the balance of prepaid account %s could cover (it held %s): "
                "recorded as arrears, the account is refused until a credit pays them",
                format_usd(charged + overrun),
                format_usd(overrun),
                hold.account_id,
                format_usd(hold.held_micros),
            )
        if hold.key_id is not None:
            self._spend.settle(hold.key_id, hold.held_micros, charged, now)
        self._writer.add(Charge(hold.account_id, hold.key_id, hold.reservation_id, charged, release, now, overrun))

    # ---- background ---------------------------------------------------------------

    async def _load_view(self, account_id: str) -> _AccountView:
        async with self._engine.connect() as conn:
            found = await read_accounts(conn, [account_id])
        if account_id not in found:
            raise NotFound(f"no account {account_id!r}")
        stored = found[account_id]
        return self._views.setdefault(
            account_id, _AccountView(stored.prepaid, stored.balance, arrears_stored=stored.arrears)
        )

    async def _load_spend(self, key_id: str, now: datetime) -> None:
        async with self._sync:  # not while a flush moves unflushed spend to stored
            async with self._engine.connect() as conn:
                await self._spend.load(conn, [key_id], now)

    async def _write(self, charges: list[Charge]) -> None:
        async with self._sync:
            async with self._engine.begin() as conn:
                await apply_charges(conn, charges)
            for charge in charges:
                view = self._views.get(charge.account_id)
                if view is not None:
                    view.unflushed -= charge.amount_micros
                    view.stored -= charge.amount_micros
                    view.arrears_unflushed -= charge.overrun_micros
                    view.arrears_stored += charge.overrun_micros
                if charge.key_id is not None:
                    self._spend.flushed(charge.key_id, charge.amount_micros, charge.at)

    async def refresh(self) -> None:
        """Re-read cached balances and key spend (credits and charges made elsewhere)."""
        async with self._sync:
            async with self._engine.connect() as conn:
                found = await read_accounts(conn, list(self._views))
                await self._spend.load(conn, self._spend.known_keys(), datetime.now(UTC))
            for account_id, stored in found.items():
                self._views[account_id].store(stored)

    async def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self._refresh_interval)
                return
            except TimeoutError:
                pass
            try:
                await self.refresh()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("ledger refresh failed (%s); retrying", exc)

    # ---- management ---------------------------------------------------------------

    async def credit(self, account_id: str, amount_micros: int, note: str | None = None) -> int:
        """Add credit (a ledger row), paying the account's arrears first; returns the new stored balance."""
        await self.flush()  # overruns settled here reach the database first, so this credit pays them
        async with self._sync:
            async with self._engine.begin() as conn:
                balance, arrears = await credit(conn, account_id, amount_micros, note, datetime.now(UTC))
            view = self._views.get(account_id)
            if view is not None:
                view.stored, view.arrears_stored = balance, arrears
        return balance

    async def balance(self, account_id: str) -> Balance:
        # under the flush lock: a flush commits charges, then moves them out of ``unflushed``;
        # a read between the two would subtract those charges twice
        async with self._sync:
            async with self._engine.connect() as conn:
                found = await read_accounts(conn, [account_id])
            view = self._views.get(account_id)
            unflushed = view.unflushed if view is not None else 0
            overrun = view.arrears_unflushed if view is not None else 0
        if account_id not in found:
            raise NotFound(f"no account {account_id!r}")
        stored = found[account_id]
        held = stored.reserved if self.shared else (view.held if view is not None else 0)
        return Balance(account_id, stored.prepaid, stored.balance - unflushed, held, stored.arrears + overrun)

    async def reconcile(self, account_id: str) -> tuple[int, int]:
        """Rebuild the cached balance from the ledger and drop leaked holds (gateway stopped)."""
        await self.flush()
        async with self._sync:
            async with self._engine.begin() as conn:
                result = await reconcile(conn, account_id)
            self._views.pop(account_id, None)
        return result

    async def flush(self) -> None:
        if self._overruns:
            await asyncio.gather(*self._overruns, return_exceptions=True)
        await self._writer.flush()

    async def close(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            await self._refresher
            self._refresher = None
        if self._overruns:
            await asyncio.gather(*self._overruns, return_exceptions=True)
        await self._writer.close()
        if self._lanes is not None:
            await self._lanes.close()
