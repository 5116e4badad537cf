"""The pure rules of spending: the caps a reservation must stay under (a key's lifetime
quota, its group's day and month budgets) and the 402 of a prepaid balance that cannot
hold it. ``SpendBook`` and ``Ledger`` apply them to live state; ``turnout test`` applies
them to what a policy test case says the key has spent (no database involved).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from engine.errors import PaymentRequired
from engine.state.money import format_usd

TOTAL = "total"


def day_period(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def month_period(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Caps:
    quota_micros: int | None = None  # the key's lifetime cap
    day_micros: int | None = None  # the group's budget per key per UTC day
    month_micros: int | None = None  # per key per UTC month

    @property
    def any(self) -> bool:
        return self.quota_micros is not None or self.day_micros is not None or self.month_micros is not None


def check_caps(committed: Callable[[str], int], caps: Caps, amount: int, now: datetime) -> None:
    """Raise ``PaymentRequired`` when ``amount`` more would cross a cap; ``committed(period)``
    is what is spent or held in a period (``"total"``, ``day_period(now)``, ``month_period(now)``)."""
    for cap, period, code, what in (
        (caps.quota_micros, TOTAL, "quota_exceeded", "the key's quota"),
        (caps.day_micros, day_period(now), "budget_exceeded", "the key's daily budget"),
        (caps.month_micros, month_period(now), "budget_exceeded", "the key's monthly budget"),
    ):
        if cap is None:
            continue
        spent = committed(period)
        if spent + amount > cap:
            raise PaymentRequired(
                f"{what} is exhausted: {format_usd(spent)} of {format_usd(cap)} spent or held, "
                f"this request may cost up to {format_usd(amount)}",
                code=code,
            )


def insufficient_balance(amount: int, available: int | None) -> PaymentRequired:
    """402 for a prepaid account whose balance cannot hold ``amount`` micro-dollars."""
    detail = f" ({format_usd(available)} available)" if available is not None else ""
    return PaymentRequired(
        f"insufficient balance: this request may cost up to {format_usd(amount)}{detail}; add credits to the account",
        code="insufficient_balance",
    )
