"""Money as integer micro-dollars: conversion from and to USD, parsing and display.

Every amount the state layer stores or adds is an ``int`` of micro-dollars (1 USD =
1,000,000). Floats only appear at the ``Gate`` boundary and are converted once, through
``Decimal`` of their shortest repr, so sums never accumulate float error.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, InvalidOperation

MICROS_PER_USD = 1_000_000
_MICRO = Decimal(1)


def usd_to_micros(amount: float | Decimal | str | int, *, round_up: bool = False) -> int:
    """``0.1`` -> ``100000``; half-even rounding, or ceiling with ``round_up``."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    scaled = value * MICROS_PER_USD
    return int(scaled.quantize(_MICRO, rounding=ROUND_CEILING if round_up else ROUND_HALF_EVEN))


def micros_to_usd(micros: int) -> float:
    return micros / MICROS_PER_USD


def micros_to_decimal(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_USD


def parse_usd(text: str) -> int:
    """Parse a user-typed amount such as ``25``, ``$25.50`` or ``0.000001`` into micros."""
    cleaned = text.strip().removeprefix("$").replace("_", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount in USD: {text!r} (expected e.g. 25 or 12.50)") from None
    if not value.is_finite():
        raise ValueError(f"not an amount in USD: {text!r}")
    if value != value.quantize(Decimal("0.000001")):
        raise ValueError(f"amount {text!r} has more than 6 decimal places (micro-dollars)")
    return usd_to_micros(value)


def format_usd(micros: int) -> str:
    """``1234500`` -> ``"$1.2345"``: at least 2 decimals, no trailing zeros beyond."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    digits = f"{frac:06d}".rstrip("0")
    return f"{sign}${whole}.{digits.ljust(2, '0')}"
