"""Per-key spend caps: the key's lifetime quota and its group's day and month budgets.

``SpendBook`` keeps, per key seen by this process, the spend the database knows (lifetime,
this UTC day, this UTC month), what this process charged but has not flushed yet, and what
its in-flight requests hold. ``check`` refuses a reservation that would cross a cap (the
pure rule is ``engine.state.spend_rules.check_caps``).
Across replicas the caps are soft: another replica's in-flight holds and its last
unflushed second of charges are not seen, so a cap can be overshot by at most those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.state.schema import api_keys, key_spend
from engine.state.spend_rules import TOTAL, Caps, check_caps, day_period, month_period


@dataclass(slots=True)
class _KeySpend:
    stored: dict[str, int] = field(default_factory=dict)  # "total" and periods -> micros in the database
    unflushed: dict[str, int] = field(default_factory=dict)
    held: int = 0

    def spent(self, period: str) -> int:
        return self.stored.get(period, 0) + self.unflushed.get(period, 0)


class SpendBook:
    def __init__(self) -> None:
        self._keys: dict[str, _KeySpend] = {}

    def _entry(self, key_id: str) -> _KeySpend:
        return self._keys.setdefault(key_id, _KeySpend())

    def needs_load(self, key_id: str, now: datetime) -> bool:
        entry = self._keys.get(key_id)
        return entry is None or not {TOTAL, day_period(now), month_period(now)} <= entry.stored.keys()

    async def load(self, conn: AsyncConnection, key_ids: list[str], now: datetime) -> None:
        """Read the stored spend of ``key_ids`` for the lifetime and the current day and month."""
        periods = [day_period(now), month_period(now)]
        for start in range(0, len(key_ids), 500):
            chunk = key_ids[start : start + 500]
            totals = await conn.execute(
                sa.select(api_keys.c.id, api_keys.c.spend_micros).where(api_keys.c.id.in_(chunk))
            )
            by_period = await conn.execute(
                sa.select(key_spend.c.key_id, key_spend.c.period, key_spend.c.spend_micros).where(
                    key_spend.c.key_id.in_(chunk), key_spend.c.period.in_(periods)
                )
            )
            fresh: dict[str, dict[str, int]] = {k: dict.fromkeys([TOTAL, *periods], 0) for k in chunk}
            for key_id, total in totals:
                fresh[str(key_id)][TOTAL] = int(total)
            for key_id, period, spent in by_period:
                fresh[str(key_id)][str(period)] = int(spent)
            for key_id, stored in fresh.items():
                self._entry(key_id).stored = stored

    def known_keys(self) -> list[str]:
        return list(self._keys)

    def check(self, key_id: str, caps: Caps, amount: int, now: datetime) -> None:
        """Raise ``PaymentRequired`` when holding ``amount`` more would cross a cap."""
        entry = self._entry(key_id)
        check_caps(lambda period: entry.spent(period) + entry.held, caps, amount, now)

    def hold(self, key_id: str, amount: int) -> None:
        self._entry(key_id).held += amount

    def settle(self, key_id: str, held: int, charged: int, at: datetime) -> None:
        entry = self._entry(key_id)
        entry.held -= held
        for period in (TOTAL, day_period(at), month_period(at)):
            entry.unflushed[period] = entry.unflushed.get(period, 0) + charged

    def flushed(self, key_id: str, charged: int, at: datetime) -> None:
        """``charged`` (settled at ``at``) is now in the database: move it from unflushed to stored."""
        entry = self._keys.get(key_id)
        if entry is None:
            return
        for period in (TOTAL, day_period(at), month_period(at)):
            entry.unflushed[period] = entry.unflushed.get(period, 0) - charged
            if not entry.unflushed[period]:
                del entry.unflushed[period]
            if period in entry.stored:
                entry.stored[period] += charged
