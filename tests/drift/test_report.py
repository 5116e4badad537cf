"""The drift analysis on hand-built usage rows: each finding, its thresholds, and the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from engine.drift.render import render
from engine.drift.report import Thresholds, Window, build
from engine.drift.rows import CostFacts, cost_facts
from engine.drift.tally import Tally, estimate_micros
from engine.policy.compiled import CompiledPolicy
from tests.drift.builders import AT, POLICY, SINCE, policy, tally_of, week
from tests.support.policy_files import write_policy

WINDOW = Window(SINCE, AT)


@pytest.fixture
def current(tmp_path: Path) -> CompiledPolicy:
    return policy(tmp_path)


DEFAULTS = Thresholds()


def report(current: CompiledPolicy, limits: Thresholds = DEFAULTS) -> dict[str, Any]:
    return build(tally_of(current, week(current.version)), WINDOW, limits, "policies")


def test_counts_and_versions(current: CompiledPolicy) -> None:
    data = report(current)
    assert (data["requests"], data["attempts"]) == (27, 44)
    assert data["policy_versions"] == [
        {"version": current.version, "requests": 25, "current": True, "canary": False},
        {"version": "0123456789abcdef", "requests": 2, "current": False, "canary": False},
    ]
    assert any(note.startswith("2 requests ran on other policy versions") for note in data["notes"])


def test_rules_never_matched_are_those_of_requested_aliases(current: CompiledPolicy) -> None:
    data = report(current)
    assert [(r["alias"], r["rule"], r["when"]) for r in data["unmatched_rules"]] == [
        ("auto", "2", "request.has_images")
    ]
    # a request row from before the window matched rule 2: outside the window, it does not count
    tally = tally_of(current, [r for r in week(current.version) if r.alias_rule != "auto#candidates"])
    rules = build(tally, WINDOW, Thresholds(), "policies")["unmatched_rules"]
    assert [(r["alias"], r["rule"]) for r in rules] == [("auto", "2"), ("auto", "candidates")]


def test_no_traffic_counts_aliases_reached_through_another(current: CompiledPolicy) -> None:
    # "inner" is never asked for, but "auto" falls back to it; "solo" and "quiet" see nothing
    assert report(current)["no_traffic"] == {"aliases": ["unused"], "models": ["solo"], "channels": ["quiet"]}


def test_a_channel_is_flagged_from_enough_attempts_and_a_high_failed_share(current: CompiledPolicy) -> None:
    channels = {c["channel"]: c for c in report(current)["channels"]}
    spare, main = channels["spare"], channels["main"]
    assert (spare["attempts"], spare["failed"], spare["failed_share"], spare["flagged"]) == (20, 20, 1.0, True)
    assert spare["reasons"] == {"429": 19, "hedge_lost": 1}
    assert (main["attempts"], main["failed"], main["flagged"]) == (24, 0, False)
    few = {c["channel"]: c["flagged"] for c in report(current, Thresholds(min_attempts=21))["channels"]}
    assert few == {"spare": False, "main": False}


def test_cost_drift_against_the_policy_estimate(current: CompiledPolicy) -> None:
    costs = {c["model"]: c for c in report(current)["costs"]}
    big, cheap = costs["big"], costs["cheap"]
    # big: (1000 x $1 + 500 x $2) / 1M x 2 (research) = 4000 micros; charged 3600
    assert (big["requests"], big["estimated_mean_micros"], big["observed_mean_micros"]) == (4, 4000, 3600)
    assert (big["drift"], big["flagged"]) == (-0.1, False)
    assert big["output_tokens"] == {"assumed_mean": 500, "actual_mean": 100}
    # cheap: no cap, so router.default_max_tokens (4096): 1000 x $0.1 + 4096 x $0.2 = 919.2 micros
    assert (cheap["requests"], cheap["estimated_mean_micros"], cheap["observed_mean_micros"]) == (20, 919, 200)
    assert (cheap["drift"], cheap["flagged"]) == (-0.7824, True)
    assert cheap["prompt_tokens"] == {"estimated_mean": 1000, "actual_mean": 900}
    lenient = {c["model"]: c["flagged"] for c in report(current, Thresholds(cost_tolerance=0.8))["costs"]}
    assert lenient == {"big": False, "cheap": False}


def test_what_the_cost_comparison_leaves_out_is_said(current: CompiledPolicy) -> None:
    notes = report(current)["notes"]
    assert "1 requests served with the caller's own key (charged a fee) left out of cost drift" in notes
    assert "1 served requests without routing facts (older rows) left out of cost drift" in notes
    assert "1 requests served by retired not estimated: not in the policy" in notes


def test_the_flag_count_and_an_empty_window(current: CompiledPolicy) -> None:
    # auto#2, unused, solo, quiet, spare, cheap
    assert report(current)["flagged"] == 6
    empty = build(Tally(current), WINDOW, Thresholds(), "policies")
    assert (empty["flagged"], empty["notes"]) == (0, ["no request in the window: nothing is flagged"])


def test_requests_the_canary_served_judge_only_channels(tmp_path: Path) -> None:
    write_policy(tmp_path / "policies", "[canary]\npercent = 10\n", "canary.toml")
    write_policy(tmp_path / "policies" / "canary", POLICY.replace("request.has_images", "request.stream"))
    stable = policy(tmp_path)
    assert stable.canary is not None
    canary = stable.canary.version
    # the canary matched its rule 2 and served solo through quiet: that says nothing of the stable rule 2 or solo
    on_canary = [
        r._replace(alias_rule="auto#2", model_served="solo", channel="quiet", policy_version=canary)
        for r in week(stable.version)[:2]
    ]
    data = build(tally_of(stable, week(stable.version) + on_canary), WINDOW, Thresholds(), "policies")
    assert data["requests"] == 28 and data["policy"]["canary"] == canary
    assert {"version": canary, "requests": 1, "current": False, "canary": True} in data["policy_versions"]
    assert [(r["alias"], r["rule"]) for r in data["unmatched_rules"]] == [("auto", "2")]
    assert data["no_traffic"] == {"aliases": ["unused"], "models": ["solo"], "channels": []}
    assert {c["channel"]: c["attempts"] for c in data["channels"]} == {"spare": 20, "main": 24, "quiet": 1}
    assert data["notes"][0].startswith(f"1 requests ran on the canary candidate {canary[:12]}: left out of")
    only = build(tally_of(stable, on_canary), WINDOW, Thresholds(), "policies")
    assert only["notes"][0] == "every request in the window ran on the canary candidate: only channels are judged"
    assert (only["unmatched_rules"], only["costs"], only["flagged"]) == ([], [], 0)


def test_the_estimate_is_the_planners_times_the_group_multiplier(current: CompiledPolicy) -> None:
    big = current.models["big"]
    assert estimate_micros(big, CostFacts(100, 10, "default"), current) == pytest.approx(120.0)
    assert estimate_micros(big, CostFacts(100, 10, "research"), current) == pytest.approx(240.0)
    assert estimate_micros(big, CostFacts(100, 10, "gone"), current) == pytest.approx(120.0)
    assert estimate_micros(current.models["solo"], CostFacts(100, 10, "default"), current) is None


@pytest.mark.parametrize(
    "routing",
    [None, "{oops", "[]", '{"estimated_tokens": true, "key_group": "g"}', '{"estimated_tokens": 1, "max_tokens": "x",'
     ' "key_group": "g"}', '{"estimated_tokens": 1}'],
)  # fmt: skip
def test_unreadable_routing_facts_are_none(routing: str | None) -> None:
    assert cost_facts(routing) is None


def test_reports(current: CompiledPolicy, snapshot: SnapshotAssertion) -> None:
    data = report(current)
    data["policy"] = {"directory": "policies", "version": "5eed" * 16}  # the version hash moves with the compiler
    data["policy_versions"][0]["version"] = "5eed" * 16
    assert render(data, "text") == snapshot(name="text")
    assert render(data, "markdown") == snapshot(name="markdown")
