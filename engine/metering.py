"""What a request costs: pure functions from token usage and a price to money.

Prices are USD per 1M tokens, so one token at price ``p`` costs exactly ``p`` micro-dollars.
The arithmetic runs in ``Decimal`` on integer micro-dollars and rounds once: a charge
half-even (``cost_micros``), a reservation up (``worst_case_micros``), so the hold always
covers the charge for the same token counts. ``Usage.input_tokens`` is the whole prompt
(cached reads and cache writes included, see ``engine.canonical``): cached reads are billed
at ``cached_input`` when the model has one, everything else at ``input``. Negative counts
(a broken upstream, a hostile request) are read as zero: a cost is never negative.

``usage_cost`` and ``worst_case_cost`` give the same amounts in USD for the ``Gate``
boundary and the usage log (an unpriced model costs 0).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from engine.canonical import Usage
from engine.policy.compiled import Price

MICROS_PER_USD = 1_000_000


def _d(value: float) -> Decimal:
    return Decimal(str(value))


def _check_multiplier(multiplier: float) -> Decimal:
    if multiplier < 0:
        raise ValueError(f"price multiplier must not be negative, got {multiplier}")
    return _d(multiplier)


def cost_micros(usage: Usage, price: Price, multiplier: float = 1.0, *, images: int = 0) -> int:
    """The charge for ``usage`` at ``price`` times the group's ``multiplier``, in micro-dollars."""
    cached = min(max(usage.cached_input_tokens, 0), max(usage.input_tokens, 0))
    uncached = max(usage.input_tokens, 0) - cached
    cached_price = price.cached_input if price.cached_input is not None else price.input
    total = (
        uncached * _d(price.input)
        + cached * _d(cached_price)
        + max(usage.output_tokens, 0) * _d(price.output)
        + max(images, 0) * _d(price.per_image or 0.0) * MICROS_PER_USD
    )
    total *= _check_multiplier(multiplier)
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def worst_case_micros(
    prompt_tokens: int,
    max_output_tokens: int,
    price: Price,
    multiplier: float = 1.0,
    *,
    images: int = 0,
) -> int:
    """The most the request can cost: the whole prompt uncached plus every output token."""
    prompt_price = max(price.input, price.cached_input or 0.0)
    total = (
        max(prompt_tokens, 0) * _d(prompt_price)
        + max(max_output_tokens, 0) * _d(price.output)
        + max(images, 0) * _d(price.per_image or 0.0) * MICROS_PER_USD
    )
    total *= _check_multiplier(multiplier)
    return int(total.quantize(Decimal(1), rounding=ROUND_CEILING))


def usage_cost(usage: Usage, price: Price | None, multiplier: float = 1.0) -> float:
    """``cost_micros`` in USD; 0 for an unpriced model."""
    if price is None:
        return 0.0
    return cost_micros(usage, price, multiplier) / MICROS_PER_USD


def worst_case_cost(prompt_tokens: int, max_output_tokens: int, price: Price | None, multiplier: float = 1.0) -> float:
    """``worst_case_micros`` in USD (what ``Gate.reserve`` holds); 0 for an unpriced model."""
    if price is None:
        return 0.0
    return worst_case_micros(prompt_tokens, max_output_tokens, price, multiplier) / MICROS_PER_USD
