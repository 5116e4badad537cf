"""Top-ups: buying credits through a payment provider.

``PaymentProvider`` is the seam: ``start`` turns a requested amount into a pending top-up
with what the payer must do (``instructions``, a ``reference``); a provider that hears back
from its payment network calls ``TopupStore.confirm``. The one shipped is ``InvoiceProvider``:
no payment network, the payer is told to pay an invoice quoting the reference, and an admin
confirms the top-up in the console when the money arrived. Confirming credits the account
through the ledger exactly once (the pending -> confirmed change is conditional).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.state.errors import Conflict, InvalidInput, NotFound
from engine.state.ledger import Ledger
from engine.state.money import format_usd
from engine.state.schema import topups

MAX_TOPUP_MICROS = 100_000 * 1_000_000  # USD 100,000 per top-up


@dataclass(frozen=True, slots=True)
class Topup:
    id: str
    account_id: str
    amount_micros: int
    provider: str
    status: str  # pending | confirmed | cancelled
    reference: str
    created_at: datetime
    settled_at: datetime | None
    settled_by: str | None


@dataclass(frozen=True, slots=True)
class Started:
    reference: str
    instructions: str


class PaymentProvider(Protocol):
    name: str

    def start(self, account_id: str, amount_micros: int) -> Started: ...


class InvoiceProvider:
    """Manual payment: an invoice to pay by bank transfer; an admin confirms receipt."""

    name = "invoice"

    def start(self, account_id: str, amount_micros: int) -> Started:
        reference = "INV-" + secrets.token_hex(4).upper()
        return Started(
            reference,
            f"Pay {format_usd(amount_micros)} quoting {reference}; the credits are added when an "
            "administrator confirms the payment.",
        )


def _topup(row: sa.RowMapping) -> Topup:
    return Topup(
        str(row["id"]),
        str(row["account_id"]),
        int(row["amount_micros"]),
        str(row["provider"]),
        str(row["status"]),
        str(row["reference"]),
        row["created_at"],
        row["settled_at"],
        row["settled_by"],
    )


class TopupStore:
    def __init__(self, engine: AsyncEngine, ledger: Ledger, provider: PaymentProvider) -> None:
        self._engine = engine
        self._ledger = ledger
        self.provider = provider

    async def request(self, account_id: str, amount_micros: int) -> tuple[Topup, str]:
        """A pending top-up and the provider's instructions for the payer."""
        if amount_micros <= 0 or amount_micros > MAX_TOPUP_MICROS:
            raise InvalidInput(f"a top-up must be more than 0 and at most {format_usd(MAX_TOPUP_MICROS)}")
        started = self.provider.start(account_id, amount_micros)
        values = dict(
            id="t_" + secrets.token_hex(8),
            account_id=account_id,
            amount_micros=amount_micros,
            provider=self.provider.name,
            status="pending",
            reference=started.reference,
            created_at=datetime.now(UTC),
            settled_at=None,
            settled_by=None,
        )
        async with self._engine.begin() as conn:
            await conn.execute(sa.insert(topups).values(**values))
        return await self.get(str(values["id"])), started.instructions

    async def get(self, topup_id: str) -> Topup:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(topups).where(topups.c.id == topup_id))).mappings().first()
        if row is None:
            raise NotFound(f"no top-up {topup_id!r}")
        return _topup(row)

    async def list(self, account_id: str | None = None, status: str | None = None) -> list[Topup]:
        statement = sa.select(topups).order_by(topups.c.created_at.desc())
        if account_id is not None:
            statement = statement.where(topups.c.account_id == account_id)
        if status is not None:
            statement = statement.where(topups.c.status == status)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement.limit(200))).mappings().all()
        return [_topup(r) for r in rows]

    async def confirm(self, topup_id: str, by: str) -> Topup:
        """Credit a pending top-up's account (once); a settled one is a conflict."""
        found = await self._settle(topup_id, "confirmed", by)
        await self._ledger.credit(found.account_id, found.amount_micros, f"top-up {found.reference} ({found.provider})")
        return await self.get(topup_id)

    async def cancel(self, topup_id: str, by: str) -> Topup:
        await self._settle(topup_id, "cancelled", by)
        return await self.get(topup_id)

    async def _settle(self, topup_id: str, status: str, by: str) -> Topup:
        found = await self.get(topup_id)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(topups)
                .where(topups.c.id == topup_id, topups.c.status == "pending")
                .values(status=status, settled_at=datetime.now(UTC), settled_by=by)
            )
        if result.rowcount == 0:
            raise Conflict(f"top-up {topup_id} is {found.status} already")
        return found
