"""The re-planner on hand-built recorded requests: the server's plan(), refusals as the client
would see them, exact costs from the recorded tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.policy.compiled import CompiledPolicy
from engine.replay.replan import Refused, Replanner, Routed, recorded_outcome
from tests.replay.builders import BASE_POLICY, policy, recorded


@pytest.fixture
def base(tmp_path: Path) -> CompiledPolicy:
    return policy(tmp_path, BASE_POLICY)


def test_the_first_candidate_follows_the_rules(base: CompiledPolicy) -> None:
    replan = Replanner(base).outcome
    assert replan(recorded()) == Routed("cheap", "main", "auto", "candidates", 140, True)
    assert replan(recorded(key_group="research"))[:4] == ("big", "main", "auto", "1")
    assert replan(recorded(has_images=True))[:4] == ("big", "main", "auto", "2")
    assert replan(recorded(headers={"x-team": "search"}))[:4] == ("big", "main", "auto", "3")
    assert replan(recorded(model="solo"))[:4] == ("solo", "main", None, None)


def test_cost_is_exact_integer_micros_at_the_price_times_the_group_multiplier(base: CompiledPolicy) -> None:
    replan = Replanner(base).outcome
    # big: 600 uncached x $1 + 400 cached x $0.5 + 300 out x $2 = 1400 micro-dollars, x2 for research
    r = recorded(key_group="research", prompt_tokens=1000, cached_tokens=400, completion_tokens=300)
    assert replan(r) == Routed("big", "main", "auto", "1", 2800, True)
    # cheap: 0.3 + 0.2 = 0.5 micro rounds half-even to 0; 0.5 + 0.2 = 0.7 rounds to 1
    assert replan(recorded(prompt_tokens=3, completion_tokens=1)) == Routed(
        "cheap", "main", "auto", "candidates", 0, True
    )
    assert replan(recorded(prompt_tokens=5, completion_tokens=1)) == Routed(
        "cheap", "main", "auto", "candidates", 1, True
    )
    assert replan(recorded(model="solo")) == Routed("solo", "main", None, None, 0, False)  # unpriced


def test_refusals_are_what_the_client_would_get(base: CompiledPolicy) -> None:
    replan = Replanner(base).outcome
    gone = replan(recorded(model="retired"))
    assert isinstance(gone, Refused) and (gone.status, gone.code) == (404, "model_not_found")
    huge = replan(recorded(model="fast", estimated_tokens=9000))
    assert isinstance(huge, Refused) and (huge.status, huge.code) == (400, "context_length_exceeded")
    vision = replan(recorded(model="fast", has_images=True))
    assert isinstance(vision, Refused) and vision.status == 503 and "missing capability: vision" in vision.message
    narrowed = replan(recorded(model="fast", key_group="research"))
    assert narrowed == Refused(
        403,
        "model_not_allowed",
        "model 'fast' is not allowed for API key 'ci' (group 'research' allows auto, big; the key allows *)",
    )
    gone_group = replan(recorded(key_group="interns"))
    assert isinstance(gone_group, Refused) and (gone_group.status, gone_group.code) == (403, "group_not_found")
    assert "'interns' is not defined in the policy" in gone_group.message


def test_keys_outside_the_store_are_not_checked_against_groups(base: CompiledPolicy) -> None:
    assert isinstance(Replanner(base).outcome(recorded(model="fast", key_group="research", keyed=False)), Routed)


def test_time_rules_see_the_recorded_planning_time(tmp_path: Path) -> None:
    timed = policy(
        tmp_path,
        BASE_POLICY.replace(
            '[aliases.fast]\ncandidates = ["cheap"]',
            '[aliases.fast]\nrules = [{ when = "now < timestamp(\'2026-06-01T00:00:00Z\')", use = ["big"] }]\n'
            'candidates = ["cheap"]',
        ),
    )
    replan = Replanner(timed).outcome
    before = datetime(2026, 5, 31, 23, 59, tzinfo=UTC)
    assert replan(recorded(model="fast", planned_at=before))[:2] == ("big", "main")
    assert replan(recorded(model="fast"))[:2] == ("cheap", "main")


def test_a_weighted_draw_is_the_same_for_the_same_request(tmp_path: Path) -> None:
    weighted = policy(tmp_path, BASE_POLICY.replace("[aliases.fast]\n", '[aliases.fast]\nstrategy = "weighted"\n'))
    replan = Replanner(weighted).outcome
    picks = {rid: replan(recorded(rid, model="fast"))[:2] for rid in (f"r{i}" for i in range(40))}
    assert set(picks.values()) == {("cheap", "main"), ("cheap", "spare")}  # both channels drawn
    assert {rid: Replanner(weighted).outcome(recorded(rid, model="fast"))[:2] for rid in picks} == picks


def test_the_recorded_side_is_what_the_row_says() -> None:
    assert recorded_outcome(recorded(cost_micros=77)) == Routed("cheap", "main", None, None, 77, True)
    assert isinstance(recorded_outcome(recorded(first_model=None)), Refused)
