"""Cost from usage and policy prices: cached tokens at the cached price, multiplier applied."""

import pytest

from engine.canonical import Usage
from engine.metering import usage_cost, worst_case_cost
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
