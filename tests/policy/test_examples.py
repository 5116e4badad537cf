"""Every example under examples/ is a runnable scenario whose policy passes `turnout check`."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.policy.check import run_check
from engine.policy.load import load_policy

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
SCENARIOS = sorted(p.name for p in EXAMPLES.iterdir() if (p / "policies").is_dir())  # deploy/ is no scenario


def test_there_are_at_least_three_scenarios() -> None:
    assert len(SCENARIOS) >= 3


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_policy_passes_check_with_no_provider_key(scenario: str) -> None:
    code, lines = run_check(EXAMPLES / scenario / "policies", {})
    assert code == 0, "\n".join(lines)
    assert lines[-1].startswith("ok: ")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_request_asks_for_a_model_the_policy_serves(scenario: str) -> None:
    body = orjson.loads((EXAMPLES / scenario / "request.json").read_bytes())
    assert isinstance(body["messages"], list) and body["messages"]
    policy = load_policy(EXAMPLES / scenario / "policies", {}).policy
    assert policy is not None
    assert body["model"] in policy.public_ids()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_readme_shows_how_to_run_it(scenario: str) -> None:
    readme = (EXAMPLES / scenario / "README.md").read_text()
    assert f"turnout explain --policies examples/{scenario}/policies --model " in readme
    assert f"turnout serve --policies examples/{scenario}/policies" in readme


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_only_the_demo_channel_or_env_referenced_keys(scenario: str) -> None:
    policy = load_policy(EXAMPLES / scenario / "policies", {"ANY": "x"}).policy
    assert policy is not None
    for channel in policy.channels.values():
        assert channel.base_url == "demo://local" or channel.skip_reason is not None


def first_matching_rule(alias: str, scenario: str, headers: dict[str, str]) -> int | None:
    policy = load_policy(EXAMPLES / scenario / "policies", {}).policy
    assert policy is not None
    request = {"headers": headers, "estimated_tokens": 100, "has_tools": False}
    for rule in policy.aliases[alias].rules:
        if rule.when.evaluate({"request": request}):
            return rule.index
    return None


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ({"x-priority": "urgent", "x-team": "research"}, 0),
        ({"x-team": "research"}, 1),
        ({"x-team": "helpdesk"}, 2),
        ({"x-team": "sales"}, None),
        ({}, None),
    ],
)
def test_header_routing_rules_do_what_the_readme_says(headers: dict[str, str], rule: int | None) -> None:
    assert first_matching_rule("team-model", "header-routing", headers) == rule


@pytest.mark.parametrize(("has_tools", "kept"), [(True, False), (False, True)])
def test_cost_routing_filter_drops_small_echo_when_tools_are_used(has_tools: bool, kept: bool) -> None:
    policy = load_policy(EXAMPLES / "cost-routing" / "policies", {}).policy
    assert policy is not None
    keep = policy.aliases["auto"].filter
    assert keep is not None
    small = policy.models["small-echo"]
    candidate = {
        "context_window": small.context_window,
        "capabilities": sorted(small.capabilities),
    }
    request = {"estimated_tokens": 60, "max_tokens": 256, "has_tools": has_tools, "has_images": False}
    assert keep.evaluate({"request": request, "candidate": candidate}) is kept
