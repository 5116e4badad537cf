"""Cost of a request from its usage and the policy's prices. Pure.

Prices are USD per 1M tokens. Cached input tokens are billed at ``cached_input`` when the
model has one (else at the input price); they are a subset of ``input_tokens``.
"""

from __future__ import annotations

from engine.canonical import Usage
from engine.policy.compiled import Price

PER_TOKEN = 1_000_000


def usage_cost(usage: Usage, price: Price | None, multiplier: float = 1.0) -> float:
    if price is None:
        return 0.0
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    cached_price = price.cached_input if price.cached_input is not None else price.input
    cost = (
        (usage.input_tokens - cached) * price.input + cached * cached_price + usage.output_tokens * price.output
    ) / PER_TOKEN
    return cost * multiplier


def worst_case_cost(prompt_tokens: int, max_output_tokens: int, price: Price | None, multiplier: float = 1.0) -> float:
    """What a request may cost at most: the whole estimate uncached, every output token used."""
    if price is None:
        return 0.0
    return (prompt_tokens * price.input + max_output_tokens * price.output) / PER_TOKEN * multiplier
