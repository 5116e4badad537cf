"""Stream buffers and hedging, through the real gateway and both official SDKs.

``stream_buffer``: ``"none"`` (the default) shows every token at once, so a cut ends with
the in-band error; a duration holds the output for that window, so a failure inside it
restarts invisibly on the next candidate (and one after it is a normal mid-stream failure);
``"full"`` (an alias's or a model's option) holds the whole answer, so any failure before
the end is invisible.

``hedge = { after = "200ms" }``: when the first candidate has produced no token by then,
the next one races it; the first token wins and the loser is cancelled at once (its
connection closed: the fake sees the client leave) and logged ``hedge_lost``."""

from __future__ import annotations

import pytest

from tests.e2e.rescue.cases import FULL, SCHEDULING_SLACK, Case, assert_whole, attempt, candidates, seen
from tests.e2e.rescue.clients import Clients, in_band_error
from tests.e2e.rescue.policy import HEDGE_AFTER
from tests.support.fault_text import expected_text
from tests.support.fault_upstream import FaultUpstream

BOTH = pytest.mark.parametrize("client", ["openai", "anthropic"])


# -- stream buffers ---------------------------------------------------------------------------


@BOTH
def test_without_a_buffer_the_client_sees_the_cut_as_an_in_band_error(
    clients: Clients, fault: FaultUpstream, client: str
) -> None:
    cut, backup = candidates("buffer-none")
    got = clients.call(client, "buffer-none", stream=True)
    assert got.text == expected_text(3) and got.error is not None
    in_band_error(got, client)
    assert [r.text_sent for r in seen(fault, cut)] == [expected_text(3)]
    assert seen(fault, backup) == []  # the answer was already showing: no restart elsewhere


@BOTH
def test_a_cut_inside_the_buffer_window_restarts_invisibly_on_the_next_candidate(
    clients: Clients, fault: FaultUpstream, client: str
) -> None:
    cut, backup = candidates("buffer-window")
    got = clients.call(client, "buffer-window", stream=True)
    assert_whole(got, Case(client, True, "buffer-window"), backup)  # w1 ... w10 once, from the backup
    assert b'"pcut"' not in got.raw  # nothing of the cut attempt reached the client
    assert got.tried() == [attempt(cut, "stream_cut (buffered)")]
    assert [r.text_sent for r in seen(fault, cut)] == [expected_text(3)]
    [restarted] = seen(fault, backup)
    assert restarted.prefill is None  # a restart from scratch, not a resume


def test_a_cut_after_the_buffer_window_is_a_mid_stream_failure(clients: Clients, fault: FaultUpstream) -> None:
    cut, backup = candidates("buffer-window-late")  # a word every 150 ms, cut after six: well past the 300 ms window
    got = clients.call("openai", "buffer-window-late", stream=True)
    assert got.text == expected_text(6) and got.error is not None  # everything it sent, then the error
    in_band_error(got, "openai")
    assert [r.text_sent for r in seen(fault, cut)] == [expected_text(6)]
    assert seen(fault, backup) == []


@pytest.mark.parametrize(
    ("client", "alias", "why"),
    [
        pytest.param("openai", "buffer-full-cut", "stream_cut", id="cut-before-the-last-word"),
        pytest.param("anthropic", "buffer-full-stall", "idle_timeout", id="stall-before-the-last-word"),
        pytest.param("openai", "buffer-full-model", "server", id="in-band-error-model-option"),
    ],
)
def test_a_full_buffer_makes_any_failure_before_the_end_invisible(
    clients: Clients, fault: FaultUpstream, client: str, alias: str, why: str
) -> None:
    failing, backup = candidates(alias)
    got = clients.call(client, alias, stream=True)
    assert_whole(got, Case(client, True, alias), backup)
    assert got.tried() == [attempt(failing, f"{why} (buffered)")]
    [failed] = seen(fault, failing)
    assert failed.text_sent == expected_text(9)  # nine of ten words, none of which the client saw
    assert [r.prefill for r in seen(fault, backup)] == [None]


# -- hedging ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Case("openai", True, "hedged"), id="openai-client-stream"),
        pytest.param(Case("anthropic", True, "hedged"), id="anthropic-client-stream"),
        pytest.param(Case("openai", False, "hedged"), id="openai-client-whole"),
    ],
)
def test_a_hedge_races_the_next_candidate_and_the_first_token_wins(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    slow, racer = candidates(case.alias)  # slow: headers at once, its first token only after 2 s
    got = clients.call(case.client, case.alias, stream=case.stream)
    assert_whole(got, case, racer)
    assert got.tried()[0] == attempt(slow, "hedge_lost")
    [loser] = seen(fault, slow)
    [winner] = seen(fault, racer)
    assert (
        winner.received_at - loser.received_at >= HEDGE_AFTER - SCHEDULING_SLACK
    )  # it raced only after the hedge delay
    assert loser.disconnected and loser.content_frames == 0  # cancelled before it produced anything
    assert winner.text_sent == FULL


def test_no_hedge_when_the_first_candidate_answers_in_time(clients: Clients, fault: FaultUpstream) -> None:
    quick, racer = candidates("hedged-in-time")
    got = clients.call("openai", "hedged-in-time", stream=True)
    assert_whole(got, Case("openai", True, "hedged-in-time"), quick)
    assert got.tried() == []
    assert len(seen(fault, quick)) == 1
    assert seen(fault, racer) == []
