"""The batch price: the model's ``batch_discount`` (0.5 unless written) off the list price
times the group multiplier."""

from __future__ import annotations

from engine.billing import batch_multiplier
from engine.canonical import Usage
from engine.metering import cost_micros
from engine.policy.compiled import Price
from engine.policy.schema import PriceRaw

USAGE = Usage(input_tokens=1000, output_tokens=500)  # 1000 x 2 + 500 x 8 = 6000 micro-USD at list price


def test_half_price_unless_the_model_says_otherwise() -> None:
    assert PriceRaw(input=2, output=8).batch_discount == 0.5
    assert Price(2, 8).batch_discount == 0.5
    assert cost_micros(USAGE, Price(2, 8), batch_multiplier(Price(2, 8), 1.0)) == 3000
    thrifty = Price(2, 8, batch_discount=0.25)
    assert cost_micros(USAGE, thrifty, batch_multiplier(thrifty, 1.0)) == 4500
    full = Price(2, 8, batch_discount=0.0)
    assert cost_micros(USAGE, full, batch_multiplier(full, 1.0)) == 6000


def test_the_group_multiplier_still_applies() -> None:
    assert cost_micros(USAGE, Price(2, 8), batch_multiplier(Price(2, 8), 1.5)) == 4500
    assert batch_multiplier(None, 1.5) == 1.5  # an unpriced model costs nothing anyway
