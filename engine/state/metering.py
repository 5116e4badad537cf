"""What a request costs: pure functions from token usage and a price to micro-dollars.

Prices are USD per 1M tokens, so one token at price ``p`` costs exactly ``p`` micro-dollars;
the arithmetic runs in ``Decimal`` and rounds once. ``Usage.input_tokens`` is the whole
prompt (cached reads and cache writes included, see ``engine.canonical``): cached reads are
billed at ``cached_input`` when the model has one, everything else at ``input``.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from engine.canonical import Usage
from engine.policy.compiled import Price
from engine.state.money import micros_to_usd


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
        + max(images, 0) * _d(price.per_image or 0.0) * 1_000_000
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
    """The most the request can cost: the whole prompt uncached plus every output token.

    This is the amount to ``reserve`` before the upstream call; rounded up so the hold
    always covers the charge ``cost_micros`` computes for the same token counts.
    """
    prompt_price = max(price.input, price.cached_input or 0.0)
    total = (
        max(prompt_tokens, 0) * _d(prompt_price)
        + max(max_output_tokens, 0) * _d(price.output)
        + max(images, 0) * _d(price.per_image or 0.0) * 1_000_000
    )
    total *= _check_multiplier(multiplier)
    return int(total.quantize(Decimal(1), rounding=ROUND_CEILING))


def cost_usd(usage: Usage, price: Price, multiplier: float = 1.0, *, images: int = 0) -> float:
    """``cost_micros`` as USD, for ``UsageRecord.cost_usd`` and ``Gate.settle``."""
    return micros_to_usd(cost_micros(usage, price, multiplier, images=images))


def worst_case_usd(
    prompt_tokens: int, max_output_tokens: int, price: Price, multiplier: float = 1.0, *, images: int = 0
) -> float:
    """``worst_case_micros`` as USD, for ``Gate.reserve`` (converted back exactly)."""
    return micros_to_usd(worst_case_micros(prompt_tokens, max_output_tokens, price, multiplier, images=images))
