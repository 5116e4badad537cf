"""Cost from usage and policy prices: cached tokens at the cached price, cache writes at the
cache-write price, multiplier applied."""

import pytest

from engine.canonical import Usage
from engine.metering import cost_micros, usage_cost, worst_case_cost, worst_case_micros
from engine.policy.compiled import Price


def test_cached_input_is_billed_at_the_cached_price() -> None:
    price = Price(input=2.0, output=10.0, cached_input=0.5)
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cached_input_tokens=400_000)
    assert usage_cost(usage, price) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 10.0)


def test_multiplier_and_missing_price() -> None:
    price = Price(input=1.0, output=1.0)
    assert usage_cost(Usage(500_000, 500_000), price, 1.5) == pytest.approx(1.5)
    assert usage_cost(Usage(500_000, 500_000), None) == 0.0


def test_worst_case_assumes_every_output_token() -> None:
    assert worst_case_cost(1000, 4000, Price(input=1.0, output=2.0)) == pytest.approx((1000 + 8000) / 1e6)


def test_cache_writes_are_billed_at_the_cache_write_price() -> None:
    # Anthropic's accounting of one Claude Code turn: 1,000 tokens read from the cache,
    # 3,000 written to it, 500 neither (input_tokens is the whole prompt, see engine.canonical)
    price = Price(input=3.0, output=15.0, cached_input=0.30, cache_write=3.75)
    usage = Usage(input_tokens=4_500, output_tokens=200, cached_input_tokens=1_000, cache_write_tokens=3_000)
    assert cost_micros(usage, price) == 500 * 3 + 1_000 * 0.3 + 3_000 * 3.75 + 200 * 15
    without = Price(input=3.0, output=15.0, cached_input=0.30)  # no cache_write price: input
    assert cost_micros(usage, without) == 3_500 * 3 + 1_000 * 0.3 + 200 * 15


def test_the_reservation_covers_a_prompt_written_to_the_cache() -> None:
    price = Price(input=3.0, output=15.0, cache_write=3.75)
    usage = Usage(input_tokens=1_000, cache_write_tokens=1_000)
    assert worst_case_micros(1_000, 0, price) >= cost_micros(usage, price)
