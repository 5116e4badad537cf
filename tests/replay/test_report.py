"""The replay report: counts, shares, costs and refusals, and its text, JSON and markdown
forms (syrupy snapshots: review them with ``--snapshot-update``)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from syrupy.assertion import SnapshotAssertion

from engine.policy.compiled import CompiledPolicy
from engine.replay.recorded import RecordedRequest
from engine.replay.render import render
from engine.replay.replan import Replanner, recorded_outcome
from engine.replay.report import Report, compare, policy_notes
from tests.replay.builders import BASE_POLICY, policy, recorded

# The change under review: the x-team rule is gone, cheap costs twice as much, "fast" is
# retired and research keys pay 1.5x instead of 2x.
CANDIDATE = (
    BASE_POLICY.replace("""  { when = "request.headers[?'x-team'].orValue('') == 'search'", use = ["big"] },\n""", "")
    .replace("price = { input = 0.1, output = 0.2 }", "price = { input = 0.2, output = 0.4 }")
    .replace('[aliases.fast]\ncandidates = ["cheap"]\n', "")
    .replace("price_multiplier = 2.0", "price_multiplier = 1.5")
)


def traffic() -> list[RecordedRequest]:
    big = {"first_model": "big", "served_model": "big"}
    return [
        recorded("r1", cost_micros=140),
        recorded("r2", cost_micros=140),
        recorded("r3", key_group="research", cost_micros=2800, cached_tokens=400, completion_tokens=300, **big),
        recorded("r4", headers={"x-team": "search"}, cost_micros=1400, **big),
        recorded("r5", model="fast", cost_micros=140),
        recorded("r6", model="fast", first_channel="spare", served_channel="spare", cost_micros=140),
        recorded("r7", model="solo", first_model="solo", served_model="solo", cost_micros=0),
    ]


@pytest.fixture
def candidate(tmp_path: Path) -> CompiledPolicy:
    return policy(tmp_path, CANDIDATE, "candidate")


def replay_report(candidate: CompiledPolicy) -> Report:
    report = Report("recorded traffic", "candidate")
    report.notes.extend(policy_notes(candidate, {"x-team"}))
    return compare(traffic(), recorded_outcome, Replanner(candidate).outcome, report)


def test_the_report_counts_changes_shares_costs_and_refusals(candidate: CompiledPolicy) -> None:
    data = replay_report(candidate).to_json()
    assert (data["requests"], data["changed"], data["became_refused"], data["became_routable"]) == (7, 1, 2, 0)
    # r1, r2: 1000 in x $0.2 + 200 out x $0.4 = 280; r3: 1400 x 1.5 = 2100; r4 now cheap: 280; solo: unpriced
    assert data["cost"] == {
        "before_micros": 140 + 140 + 2800 + 1400 + 140 + 140,
        "after_micros": 280 + 280 + 2100 + 280,
        "difference_micros": 2940 - 4760,
        "unpriced_after": 1,
    }
    auto = next(s for s in data["requested"] if s["requested"] == "auto")
    assert auto["models"] == [{"model": "cheap", "before": 2, "after": 3}, {"model": "big", "before": 2, "after": 1}]
    assert [(r["request_id"], r["status"], r["code"]) for r in data["refused"]] == [
        ("r5", 404, "model_not_found"),
        ("r6", 404, "model_not_found"),
    ]
    assert [(c["requested"], c["from"], c["to"], c["requests"]) for c in data["top_changes"]] == [
        ("auto", "big@main", "cheap@main", 1),
        ("fast", "cheap@main", "refused 404", 1),
        ("fast", "cheap@spare", "refused 404", 1),
    ]


def test_requests_that_become_routable_are_counted(tmp_path: Path, candidate: CompiledPolicy) -> None:
    base = policy(tmp_path, BASE_POLICY, "base")
    report = compare(traffic(), Replanner(candidate).outcome, Replanner(base).outcome, Report("a", "b"))
    assert (report.became_routable, len(report.refused), report.still_refused) == (2, 0, 0)


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_each_format(fmt: str, candidate: CompiledPolicy, snapshot: SnapshotAssertion) -> None:
    rendered = render(replay_report(candidate).to_json(), fmt)
    if fmt == "json":
        assert orjson.loads(rendered)["requests"] == 7
    assert rendered == snapshot


def test_long_refusal_lists_are_cut_in_text_and_markdown(candidate: CompiledPolicy) -> None:
    many = [recorded(f"f{i}", model="fast") for i in range(25)]
    data = compare(many, recorded_outcome, Replanner(candidate).outcome, Report("a", "b")).to_json()
    assert len(data["refused"]) == 25
    assert "... and 5 more (--format json lists every one)" in render(data, "text")
    assert "| … | 5 more | | | |" in render(data, "markdown")


def test_notes_say_what_a_replay_cannot_reproduce(tmp_path: Path) -> None:
    text_rule = BASE_POLICY.replace('request_headers = ["x-team"]', 'request_headers = ["x-team", "x-tier"]').replace(
        "key.group == 'research'", "request.text.contains('urgent')"
    )
    text_rule = text_rule.replace("[aliases.fast]\n", '[aliases.fast]\nstrategy = "fastest"\n')
    notes = policy_notes(policy(tmp_path, text_rule), {"x-team"})
    assert len(notes) == 3
    assert "request.text" in notes[0] and notes[1].endswith(": x-tier") and "health is not replayed" in notes[2]
