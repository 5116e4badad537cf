"""plan(): table-driven routing decisions on a real compiled policy, no HTTP at all."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.canonical import ChatRequest, ImagePart, Message, TextPart, Tool
from engine.errors import ModelNotFound, NoRoute
from engine.policy.compiled import BreakerSpec, CompiledPolicy
from engine.policy.load import load_policy
from engine.routing.facts import request_facts
from engine.routing.health import Health
from engine.routing.plan import KeyFacts, Plan, plan

POLICY = """
[channels.alpha]
format = "openai"
base_url = "https://alpha.example/v1"
api_key = "${ALPHA_KEY}"
models = { "big" = "alpha-big", "small" = "alpha-small", "cheap" = "alpha-cheap" }
weight = 3

[channels.beta]
format = "openai"
base_url = "https://beta.example/v1"
api_key = "${BETA_KEY}"
models = ["small", "vision"]
weight = 1

[channels.gone]
format = "openai"
base_url = "https://gone.example/v1"
api_key = "${GONE_KEY}"
models = ["orphan"]

[models.big]
price = { input = 5.0, output = 15.0 }
context_window = 200000
capabilities = ["tools", "vision", "json"]
fallback = ["small"]

[models.small]
price = { input = 0.5, output = 1.5 }
context_window = 16000
capabilities = ["tools", "json"]

[models.cheap]
price = { input = 0.1, output = 0.2 }
context_window = 8000
capabilities = []

[models.vision]
price = { input = 1.0, output = 3.0 }
context_window = 64000
capabilities = ["vision"]

[models.orphan]
price = { input = 1.0, output = 1.0 }
context_window = 8000
capabilities = ["tools"]

[aliases.smart]
rules = [
  { when = "request.has_tools || request.estimated_tokens > 10000", use = ["big"] },
  { when = "request.headers['x-team'] == 'research'", use = ["vision"] },
  { when = "true", use = ["small"] },
]
fallback = ["cheap"]

[aliases.auto]
strategy = "cheapest"
candidates = ["big", "small", "cheap", "vision"]

[aliases.premium]
candidates = ["big", "small", "cheap"]
filter = "candidate.price.output >= 1.0"

[aliases.spread]
strategy = "weighted"
candidates = ["small"]

[aliases.nested]
candidates = ["smart", "orphan"]

[router]
request_headers = ["x-team"]
"""


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    directory: Path = tmp_path_factory.mktemp("policy")
    (directory / "policy.toml").write_text(POLICY)
    result = load_policy(directory, {"ALPHA_KEY": "a", "BETA_KEY": "b"})
    assert result.policy is not None, [str(d) for d in result.diagnostics]
    return result.policy


def chat(model: str, text: str = "hi", **extra: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", [TextPart(text)])], **extra)


def route(
    policy: CompiledPolicy,
    request: ChatRequest,
    headers: dict[str, str] | None = None,
    health: Health | None = None,
    seed: int = 0,
) -> Plan:
    facts = request_facts(request, headers or {}, policy.request_headers)
    return plan(facts, policy, health or Health(), KeyFacts(), datetime.now(UTC), random.Random(seed))


def order(p: Plan) -> list[str]:
    return [f"{a.target.model}@{a.target.channel}" for a in p.attempts]


TOOL = Tool("lookup", "find things", {"type": "object"})


@pytest.mark.parametrize(
    ("request_", "headers", "rule", "expected"),
    [
        (chat("smart"), {}, "3", ["small@alpha", "small@beta", "cheap@alpha"]),
        (chat("smart", tools=[TOOL]), {}, "1", ["big@alpha"]),  # cheap lacks tools: no fallback
        (chat("smart", text="x" * 60_000), {}, "1", ["big@alpha"]),
        (chat("smart"), {"x-team": "research"}, "2", ["vision@beta", "cheap@alpha"]),
        (chat("smart"), {"x-team": "other"}, "3", ["small@alpha", "small@beta", "cheap@alpha"]),
    ],
)
def test_first_matching_rule_selects_the_candidates(
    policy: CompiledPolicy, request_: ChatRequest, headers: dict[str, str], rule: str, expected: list[str]
) -> None:
    p = route(policy, request_, headers)
    assert p.alias == "smart"
    assert p.rule == rule
    assert order(p) == expected


def test_cheapest_orders_by_estimated_cost_and_filters_unfit_candidates(policy: CompiledPolicy) -> None:
    p = route(policy, chat("auto", max_tokens=100))
    assert order(p) == ["cheap@alpha", "small@alpha", "small@beta", "vision@beta", "big@alpha"]
    with_image = ChatRequest(
        model="auto", messages=[Message("user", [TextPart("what is this"), ImagePart("https://x/y.png")])]
    )
    p = route(policy, with_image)
    assert order(p) == ["vision@beta", "big@alpha"]
    dropped = {n.model: n.reason for n in p.notes if not n.kept}
    assert dropped["cheap"] == "missing capability: vision"


def test_context_window_too_small_is_dropped_with_the_numbers(policy: CompiledPolicy) -> None:
    p = route(policy, chat("auto", text="y" * 80_000, max_tokens=1000))
    assert order(p) == ["vision@beta", "big@alpha"]
    reasons = [n.reason for n in p.notes if n.model == "small"]
    assert reasons == ["context window 16000 < 21004 estimated tokens"]


def test_filter_rule_drops_candidates_and_says_why(policy: CompiledPolicy) -> None:
    p = route(policy, chat("premium"))
    assert order(p) == ["big@alpha", "small@alpha", "small@beta"]
    assert any(n.model == "cheap" and n.reason.startswith("filter:") for n in p.notes)


def test_concrete_model_gets_its_fallback_chain(policy: CompiledPolicy) -> None:
    p = route(policy, chat("big"))
    assert p.alias is None
    assert order(p) == ["big@alpha", "small@alpha", "small@beta"]
    assert [a.role for a in p.attempts] == ["primary", "fallback", "fallback"]


def test_open_breaker_skips_that_channel_and_model_only(policy: CompiledPolicy) -> None:
    health = Health()
    for _ in range(BreakerSpec().failures):
        health.failure("alpha", "small", policy.breaker)
    p = route(policy, chat("smart"), health=health)
    assert order(p) == ["small@beta", "cheap@alpha"]
    assert any(n.reason == "cooling down (breaker open)" and n.channel == "alpha" for n in p.notes)


def test_weighted_strategy_follows_channel_weights(policy: CompiledPolicy) -> None:
    firsts = [route(policy, chat("spread"), seed=s).attempts[0].target.channel for s in range(400)]
    share = firsts.count("alpha") / len(firsts)
    assert 0.65 < share < 0.85  # weights 3:1 -> 75%


def test_nested_alias_expands_and_disabled_channels_are_noted(policy: CompiledPolicy) -> None:
    p = route(policy, chat("nested"))
    assert order(p)[0] == "small@alpha"
    assert any(n.model == "orphan" and n.reason == "no enabled channel serves it" for n in p.notes)


def test_unknown_model_lists_the_known_ids(policy: CompiledPolicy) -> None:
    with pytest.raises(ModelNotFound) as caught:
        route(policy, chat("nope"))
    assert "auto, big, cheap, nested, orphan, premium, small, smart, spread, vision" in caught.value.message


def test_no_route_when_nothing_can_serve(policy: CompiledPolicy) -> None:
    with pytest.raises(NoRoute) as caught:
        route(policy, chat("orphan"))
    assert "orphan: no enabled channel serves it" in caught.value.message


def test_a_saturated_channel_is_skipped_instead_of_collecting_429s(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(POLICY.replace("weight = 1\n", "weight = 1\nmax_concurrent = 2\n", 1))
    result = load_policy(tmp_path, {"ALPHA_KEY": "a", "BETA_KEY": "b"})
    assert result.policy is not None, [str(d) for d in result.diagnostics]
    health = Health()
    health.begin("beta", "small")
    assert order(route(result.policy, chat("small"), health=health)) == ["small@alpha", "small@beta"]
    health.begin("beta", "vision")  # the limit is per channel, all models together
    p = route(result.policy, chat("small"), health=health)
    assert order(p) == ["small@alpha"]
    assert any(n.channel == "beta" and n.reason == "channel saturated (2 in flight)" for n in p.notes)
    health.end("beta", "small")
    assert order(route(result.policy, chat("small"), health=health)) == ["small@alpha", "small@beta"]
