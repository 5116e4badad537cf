"""Money arithmetic: exact micro-dollars, costs and worst-case reservations."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.canonical import Usage
from engine.metering import cost_micros, worst_case_micros
from engine.policy.compiled import Price
from engine.state.money import format_usd, micros_to_usd, parse_usd, usd_to_micros
from engine.state.timeparse import parse_future, parse_instant


def test_usd_conversions_are_exact() -> None:
    assert usd_to_micros(0.1) == 100_000
    assert sum(usd_to_micros(0.1) for _ in range(10)) == usd_to_micros(1.0)
    assert usd_to_micros(0.0000015) == 2  # half-even at the micro
    assert usd_to_micros(0.0000011, round_up=True) == 2
    assert micros_to_usd(1_500_000) == 1.5
    assert parse_usd("$12.50") == 12_500_000 and parse_usd("0.000001") == 1
    with pytest.raises(ValueError, match="6 decimal places"):
        parse_usd("0.0000001")
    with pytest.raises(ValueError, match="not an amount"):
        parse_usd("ten")
    assert (
        format_usd(12_500_000) == "$12.50" and format_usd(1_234_567) == "$1.234567" and format_usd(-5) == "-$0.000005"
    )


def test_cost_uses_cached_price_and_multiplier() -> None:
    price = Price(input=2.5, output=10.0, cached_input=1.25)
    usage = Usage(input_tokens=1000, output_tokens=200, cached_input_tokens=400)
    # 600 * 2.5 + 400 * 1.25 + 200 * 10 = 1500 + 500 + 2000 micro-dollars
    assert cost_micros(usage, price) == 4000
    assert cost_micros(usage, price, 1.5) == 6000
    assert cost_micros(usage, Price(input=2.5, output=10.0)) == 1000 * 2.5 + 2000
    assert cost_micros(Usage(input_tokens=1), Price(input=0.15, output=0.6)) == 0  # 0.15 rounds to 0
    assert cost_micros(Usage(), Price(input=1, output=1, per_image=0.002), images=3) == 6000
    with pytest.raises(ValueError, match="multiplier"):
        cost_micros(usage, price, -1)


@given(
    prompt=st.integers(0, 200_000),
    cached=st.integers(0, 200_000),
    output=st.integers(0, 100_000),
    price_in=st.decimals(0, 100, places=3),
    price_out=st.decimals(0, 100, places=3),
    multiplier=st.sampled_from([0.5, 1.0, 1.2, 3.0]),
)
def test_worst_case_always_covers_the_cost(
    prompt: int, cached: int, output: int, price_in: Decimal, price_out: Decimal, multiplier: float
) -> None:
    price = Price(input=float(price_in), output=float(price_out), cached_input=float(price_in) / 2)
    usage = Usage(input_tokens=prompt, output_tokens=output, cached_input_tokens=min(cached, prompt))
    assert worst_case_micros(prompt, output, price, multiplier) >= cost_micros(usage, price, multiplier)


def test_time_parsing() -> None:
    instant = parse_instant("2025-12-31")
    assert instant.isoformat() == "2025-12-31T00:00:00+00:00"
    assert parse_instant("2025-12-31T12:00:00+02:00").hour == 10
    assert (parse_future("30d", instant) - instant).days == 30
    with pytest.raises(ValueError, match="not a date"):
        parse_instant("soon")


@given(st.integers(0, 10**12))
def test_usd_round_trip_through_the_gate_is_exact(micros: int) -> None:
    assert usd_to_micros(micros_to_usd(micros), round_up=True) == micros
    assert usd_to_micros(micros_to_usd(micros)) == micros
