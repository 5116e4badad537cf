"""What a request costs: pure functions from token usage and a price to money.

Prices are USD per 1M tokens, so one token at price ``p`` costs exactly ``p`` micro-dollars.
The arithmetic is exact integer arithmetic on the prices as written (``Price.units``: 1e-9
micro-dollars per token, up to nine decimals) and rounds once: a charge half-even
(``cost_micros``), a reservation up (``worst_case_micros``), so the hold always covers the
charge for the same token counts. ``Usage.input_tokens`` is the whole prompt (cached reads
and cache writes included, see ``engine.canonical``): cached reads are billed at
``cached_input`` and cache writes at ``cache_write`` when the model has them, everything
else at ``input``. Negative counts (a
broken upstream, a hostile request) are read as zero: a cost is never negative.

``usage_cost`` and ``worst_case_cost`` give the same amounts in USD for the ``Gate``
boundary and the usage log (an unpriced model costs 0).
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.canonical import Usage
from engine.policy.compiled import NANO_MICROS, Price, nano_units

MICROS_PER_USD = 1_000_000


def _scaled(total: int, multiplier: float) -> tuple[int, int]:
    """``total`` (in 1e-9 micro-dollars) times the multiplier, and the divisor back to micro-dollars."""
    if multiplier < 0:
        raise ValueError(f"price multiplier must not be negative, got {multiplier}")
    if multiplier == 1.0:
        return total, NANO_MICROS
    return total * nano_units(multiplier), NANO_MICROS * NANO_MICROS


def cost_micros(usage: Usage, price: Price, multiplier: float = 1.0, *, images: int = 0) -> int:
    """The charge for ``usage`` at ``price`` times the group's ``multiplier``, in micro-dollars."""
    input_units, output_units, cached_units, image_units, written_units = price.units
    prompt = max(usage.input_tokens, 0)
    cached = min(max(usage.cached_input_tokens, 0), prompt)
    written = min(max(usage.cache_write_tokens, 0), prompt - cached)
    total = (
        (prompt - cached - written) * input_units
        + cached * cached_units
        + written * written_units
        + max(usage.output_tokens, 0) * output_units
        + max(images, 0) * image_units
    )
    total, divisor = _scaled(total, multiplier)
    whole, rest = divmod(total, divisor)
    if rest * 2 > divisor or (rest * 2 == divisor and whole % 2):  # half-even
        whole += 1
    return whole


def worst_case_micros(
    prompt_tokens: int,
    max_output_tokens: int,
    price: Price,
    multiplier: float = 1.0,
    *,
    images: int = 0,
) -> int:
    """The most the request can cost: the whole prompt uncached plus every output token."""
    input_units, output_units, cached_units, image_units, written_units = price.units
    total = (
        max(prompt_tokens, 0) * max(input_units, cached_units, written_units)
        + max(max_output_tokens, 0) * output_units
        + max(images, 0) * image_units
    )
    total, divisor = _scaled(total, multiplier)
    whole, rest = divmod(total, divisor)
    return whole + (1 if rest else 0)


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


def worst_case_of(
    prompt_tokens: int, max_output_tokens: int, prices: Iterable[Price | None], multiplier: float = 1.0
) -> float:
    """The reservation for a request that may end on any of ``prices`` (its attempts'): the
    largest ``worst_case_cost`` (0 when there is none)."""
    return max((worst_case_cost(prompt_tokens, max_output_tokens, p, multiplier) for p in prices), default=0.0)
