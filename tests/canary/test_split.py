"""Which side a request is on, and how a side's statistics and the condition read. Pure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.canary.split import bucket, on_canary, rescues
from engine.canary.stats import Served, SideStats, percentile, rollback_holds, side_stats
from engine.canonical import ChatRequest, Message, TextPart
from engine.errors import BadRequest, GatewayError, ModelNotFound
from engine.policy.cel import compile_rule
from engine.policy.compiled import CanarySpec
from engine.routing.plan import KeyFacts
from tests.state.conftest import make_policy

RULE = compile_rule(
    "canary.requests >= 10 && canary.error_rate > stable.error_rate + 0.1", scope="rollback", result="bool"
)
SPEC = CanarySpec(policy=make_policy(), rollback=RULE, percent=10)
KEY = KeyFacts("team-key", "default", ())


def _chat(first: str, *later: str, system: str = "you help") -> ChatRequest:
    turns = [Message("user", [TextPart(first)])]
    for i, text in enumerate(later):
        turns += [Message("assistant", [TextPart(f"answer {i}")]), Message("user", [TextPart(text)])]
    return ChatRequest(model="chat", messages=turns, system=[TextPart(system)])


def test_about_percent_of_conversations_go_to_the_canary() -> None:
    chosen = sum(on_canary(SPEC, KEY, _chat(f"question {i}"), {}) for i in range(10_000))
    assert 900 <= chosen <= 1100


def test_a_conversation_stays_on_its_side_turn_after_turn() -> None:
    for i in range(200):
        side = on_canary(SPEC, KEY, _chat(f"question {i}"), {})
        assert on_canary(SPEC, KEY, _chat(f"question {i}", "and then?", "thanks"), {}) is side


def test_raising_the_percent_only_adds_conversations() -> None:
    wider = replace(SPEC, percent=30)
    for i in range(500):
        if on_canary(SPEC, KEY, _chat(f"question {i}"), {}):
            assert on_canary(wider, KEY, _chat(f"question {i}"), {})


def test_sticky_by_key_puts_all_of_a_keys_requests_on_one_side() -> None:
    by_key = replace(SPEC, sticky="key", percent=50)
    sides = {on_canary(by_key, KEY, _chat(f"question {i}"), {}) for i in range(50)}
    assert len(sides) == 1
    keys = [KeyFacts(f"key-{i}", "default", ()) for i in range(400)]
    assert 140 <= sum(on_canary(by_key, k, _chat("same"), {}) for k in keys) <= 260


def test_groups_and_the_header_choose_a_side_before_the_hash() -> None:
    spec = replace(SPEC, percent=0, groups=frozenset({"beta"}), header="x-turnout-canary")
    beta = KeyFacts("k", "beta", ())
    assert on_canary(spec, beta, _chat("q"), {})
    assert not on_canary(spec, KEY, _chat("q"), {})
    assert on_canary(spec, KEY, _chat("q"), {"x-turnout-canary": "Canary"})
    assert not on_canary(spec, beta, _chat("q"), {"x-turnout-canary": "stable"})
    assert not on_canary(spec, KEY, _chat("q"), {"x-turnout-canary": "maybe"})


def test_buckets_spread_evenly() -> None:
    counts = [0] * 10
    for i in range(20_000):
        counts[bucket(f"id-{i}".encode()) // 1000] += 1
    assert min(counts) > 1800 and max(counts) < 2200


def test_what_the_stable_policy_rescues() -> None:
    assert rescues(GatewayError("upstreams down", status=503))
    assert rescues(ModelNotFound("no such model"))
    assert not rescues(BadRequest("context too long"))
    assert not rescues(GatewayError("balance", status=402))


def test_side_statistics() -> None:
    rows = [Served(200, False, float(ms), 0.002) for ms in range(100, 1100, 100)]
    rows += [Served(502, False, 50.0, 0.0), Served(200, True, 3000.0, 0.001), Served(499, False, 10.0, 0.0)]
    stats = side_stats(rows, fallbacks=2)
    assert (stats.requests, stats.errors, stats.fallbacks) == (13, 2, 2)
    assert stats.error_rate == pytest.approx(2 / 13) and stats.fallback_rate == pytest.approx(2 / 13)
    assert (stats.p50_latency_ms, stats.p95_latency_ms) == (500.0, 3000.0)
    assert stats.cost_per_request == pytest.approx(0.021 / 13)
    assert side_stats([], 0) == SideStats()
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0 and percentile([], 0.95) == 0.0


def test_the_condition_compares_the_sides() -> None:
    good = SideStats(requests=50, errors=1)
    bad = SideStats(requests=50, errors=10)
    assert rollback_holds(RULE, bad, good)
    assert not rollback_holds(RULE, good, good)
    assert not rollback_holds(RULE, SideStats(requests=5, errors=5), good)  # too few to judge
