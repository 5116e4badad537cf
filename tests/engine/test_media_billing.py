"""Image billing: the delivered attempt pays per image at the price of the request's size
and quality (times the group multiplier), on top of its token charge; failed attempts pay
nothing; the reservation covers the images asked for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.billing import NOTHING, Charge
from engine.canonical import Usage
from engine.media.billing import image_charges, worst_image_cost
from engine.policy.compiled import ChannelSpec, CompiledPolicy, ModelSpec, Price
from engine.routing.facts import RequestFacts
from engine.routing.outcome import AttemptRecord
from engine.routing.plan import Attempt, Target

PRICE = Price(input=5.0, output=0.0, images={"1024x1024": {"low": 0.011, "high": 0.167}})
POLICY = CompiledPolicy(
    version="v",
    loaded_at=datetime.now(UTC),
    source_dir=".",
    channels={"c": ChannelSpec("c", "openai", "http://x", None, {"img": "img"})},
    models={"img": ModelSpec("img", PRICE, None, frozenset(), channels=("c",), kind="image")},
    aliases={},
)
FIRST = Attempt(Target("img", "c", "img"), "primary", None, None)
SECOND = Attempt(Target("img", "c", "img"), "fallback", None, None)


def _facts(quality: str, n: int = 2) -> RequestFacts:
    return RequestFacts(
        "img", 10, None, False, False, False, False, 1, "x", kind="image", images=n,
        image_size="1024x1024", image_quality=quality,
    )  # fmt: skip


def _record(attempt: Attempt, number: int, delivered: bool) -> AttemptRecord:
    return AttemptRecord(attempt, number, 200 if delivered else 500, None, "", 1.0, 1.0, delivered=delivered)


def test_the_delivered_attempt_pays_per_image_on_top_of_tokens() -> None:
    records = [_record(FIRST, 1, False), _record(SECOND, 2, True)]
    tokens = [NOTHING, Charge(Usage(input_tokens=1000), 0.005, False)]
    charged = image_charges(records, tokens, {SECOND: 2}, POLICY, _facts("high"), 1.5)
    assert charged[0] == NOTHING
    assert charged[1].cost_usd == pytest.approx(0.005 + 2 * 0.167 * 1.5)
    assert charged[1].usage == Usage(input_tokens=1000)


def test_an_unlisted_quality_is_billed_at_the_dearest() -> None:
    records = [_record(FIRST, 1, True)]
    charged = image_charges(records, [NOTHING], {FIRST: 1}, POLICY, _facts("auto"), 1.0)
    assert charged[0].cost_usd == pytest.approx(0.167)
    assert worst_image_cost(POLICY, FIRST, _facts("low", n=3), 2.0) == pytest.approx(3 * 0.011 * 2)
