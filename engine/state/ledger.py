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
    apply_charges,
    credit,
    read_accounts,
    reconcile,
)
from engine.state.money import format_usd, micros_to_usd
from engine.state.single_flight import SingleFlight
from engine.state.spend import Caps, SpendBook

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Hold(Reservation):
    """A ``Reservation`` with what ``settle`` needs to release it."""

    key_id: str | None = None
    held_micros: int = 0
    in_database: bool = False  # held in accounts.reserved_micros (shared mode)
    in_memory: bool = False  # held in the cached balance (local mode)
    settled: bool = False


@dataclass(slots=True)
class _AccountView:
    prepaid: bool
    stored: int  # balance in the database as last read or written by us
    unflushed: int = 0  # charged here, not yet written
    held: int = 0  # local-mode holds

    @property
    def available(self) -> int:
        return self.stored - self.unflushed - self.held


@dataclass(frozen=True, slots=True)
class Balance:
    account_id: str
    prepaid: bool
    balance_micros: int  # credits minus charges, including charges not yet written
    held_micros: int  # reserved by requests in flight

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
                if await self._lanes.hold(account_id, amount) is None:
                    raise self._insufficient(amount, None)
                in_database = True
            else:
                if view.available < amount:
                    raise self._insufficient(amount, view.available)
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
    def _insufficient(amount: int, available: int | None) -> PaymentRequired:
        detail = f" ({format_usd(available)} available)" if available is not None else ""
        return PaymentRequired(
            f"insufficient balance: this request may cost up to {format_usd(amount)}{detail}; "
            "add credits to the account",
            code="insufficient_balance",
        )

    def settle(self, hold: Hold, actual_micros: int) -> None:
        """Charge ``actual_micros`` and release the hold; the write happens in the background."""
        if hold.settled or hold.account_id is None:
            return
        hold.settled = True
        actual = max(actual_micros, 0)
        if actual > hold.held_micros:
            log.warning(
                "charge %s exceeds its reservation %s: the worst-case estimate was too low",
                format_usd(actual),
                format_usd(hold.held_micros),
            )
        now = datetime.now(UTC)
        view = self._views.get(hold.account_id)
        if view is not None:
            view.unflushed += actual
            if hold.in_memory:
                view.held -= hold.held_micros
        if hold.key_id is not None:
            self._spend.settle(hold.key_id, hold.held_micros, actual, now)
        self._writer.add(
            Charge(
                hold.account_id,
                hold.key_id,
                hold.reservation_id,
                actual,
                hold.held_micros if hold.in_database else 0,
                now,
            )
        )

    # ---- background ---------------------------------------------------------------

    async def _load_view(self, account_id: str) -> _AccountView:
        async with self._engine.connect() as conn:
            found = await read_accounts(conn, [account_id])
        if account_id not in found:
            raise NotFound(f"no account {account_id!r}")
        prepaid, balance, _reserved = found[account_id]
        return self._views.setdefault(account_id, _AccountView(prepaid, balance))

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
                if charge.key_id is not None:
                    self._spend.flushed(charge.key_id, charge.amount_micros, charge.at)

    async def refresh(self) -> None:
        """Re-read cached balances and key spend (credits and charges made elsewhere)."""
        async with self._sync:
            async with self._engine.connect() as conn:
                found = await read_accounts(conn, list(self._views))
                await self._spend.load(conn, self._spend.known_keys(), datetime.now(UTC))
            for account_id, (prepaid, balance, _reserved) in found.items():
                view = self._views[account_id]
                view.prepaid, view.stored = prepaid, balance

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
        """Add credit (a ledger row); returns the account's new stored balance."""
        async with self._sync:
            async with self._engine.begin() as conn:
                balance = await credit(conn, account_id, amount_micros, note, datetime.now(UTC))
            view = self._views.get(account_id)
            if view is not None:
                view.stored = balance
        return balance

    async def balance(self, account_id: str) -> Balance:
        # under the flush lock: a flush commits charges, then moves them out of ``unflushed``;
        # a read between the two would subtract those charges twice
        async with self._sync:
            async with self._engine.connect() as conn:
                found = await read_accounts(conn, [account_id])
            view = self._views.get(account_id)
            unflushed = view.unflushed if view is not None else 0
        if account_id not in found:
            raise NotFound(f"no account {account_id!r}")
        prepaid, stored, reserved = found[account_id]
        held = reserved if self.shared else (view.held if view is not None else 0)
        return Balance(account_id, prepaid, stored - unflushed, held)

    async def reconcile(self, account_id: str) -> tuple[int, int]:
        """Rebuild the cached balance from the ledger and drop leaked holds (gateway stopped)."""
        await self.flush()
        async with self._sync:
            async with self._engine.begin() as conn:
                result = await reconcile(conn, account_id)
            self._views.pop(account_id, None)
        return result

    async def flush(self) -> None:
        await self._writer.flush()

    async def close(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            await self._refresher
            self._refresher = None
        await self._writer.close()
        if self._lanes is not None:
            await self._lanes.close()
