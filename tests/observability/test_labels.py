"""Metric labels are bounded: policy names, a fixed set, or ``other``/empty."""

from __future__ import annotations

import pytest

from engine.observability.labels import ATTEMPT_OUTCOMES, OTHER, attempt_outcome, bounded, status_label
from engine.routing.outcome import AttemptRecord
from engine.routing.plan import Attempt, Target


def record(ended: str, failure: str | None = None) -> AttemptRecord:
    attempt = Attempt(Target("small", "alpha", "alpha-small"), "primary", None, None)
    return AttemptRecord(attempt, 1, None, failure, "", 1.0, None, ended)


def test_only_known_names_pass() -> None:
    aliases = {"smart": object()}
    assert bounded("smart", aliases) == "smart"
    assert bounded("gpt-4o-from-the-client", aliases) == OTHER
    assert bounded(None, aliases) == "" and bounded("", aliases) == ""


@pytest.mark.parametrize(("status", "label"), [(200, "200"), (499, "499"), (99, OTHER), (600, OTHER)])
def test_status(status: int, label: str) -> None:
    assert status_label(status) == label


@pytest.mark.parametrize(
    ("ended", "failure", "label"),
    [
        ("ok", None, "ok"),
        ("500", "server", "server"),
        ("429", "rate_limit", "rate_limit"),
        ("first_token_timeout", "timeout", "timeout"),
        ("stream_cut (buffered)", "stream_cut", "stream_cut"),
        ("hedge_lost", None, "hedge_lost"),
        ("client_gone", None, "client_gone"),
        ("cancelled", None, "cancelled"),
        ("something new", None, OTHER),
    ],
)
def test_attempt_outcomes_are_a_fixed_set(ended: str, failure: str | None, label: str) -> None:
    assert attempt_outcome(record(ended, failure)) == label
    assert label in ATTEMPT_OUTCOMES | {OTHER}
