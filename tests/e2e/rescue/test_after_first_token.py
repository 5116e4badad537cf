"""Failures after the client saw the first token, through the real gateway and both
official SDKs: a cut, a stall or an upstream's in-band error resumes on the next model
that declares ``prefill`` (the partial answer re-sent as a trailing assistant message, only
the continuation streamed into the same client stream), never on a model without it, never
after a partial tool call; otherwise the stream ends with the in-band error in the client's
format. A malformed event is skipped and a stream that finished without its terminator is
complete. Whole (non-streamed) answers showed the client nothing, so they simply retry or
fall back.

The fake answers ``w1 w2 ... w10``; ``p+cut3`` sends ``w1 w2 w3`` and drops the connection,
and a model given the prefill ``w1 w2 w3`` continues with `` w4 ... w10``."""

from __future__ import annotations

import pytest

from tests.e2e.rescue.cases import (
    FULL,
    SCHEDULING_SLACK,
    Case,
    assert_whole,
    attempt,
    candidates,
    failures,
    matrix,
    pause,
    seen,
)
from tests.e2e.rescue.clients import PROMPT, Clients, Got, in_band_error, refused
from tests.e2e.rescue.policy import IDLE
from tests.e2e.rescue.site import Site
from tests.e2e_keys.waiting import wait_until
from tests.support.fault_text import expected_text
from tests.support.fault_upstream import FaultRequest, FaultUpstream

SHOWN = expected_text(3)  # "w1 w2 w3": what the first attempt streamed before it failed
REST = " " + expected_text(10, start=4)  # " w4 ... w10": the continuation
CUT_CHARS_AS_TOKENS = -(-len(SHOWN) // 4)  # the cut attempt's usage, counted from what it relayed


def starts(got: Got, client: str) -> int:
    """How many times the client's stream started (one answer: once)."""
    if client == "openai":
        return got.raw.count(b'"role":"assistant"')
    return sum(1 for event in got.events if event.event == "message_start")


def resumed(fault: FaultUpstream, first: str, then: str) -> tuple[FaultRequest, FaultRequest]:
    """The failed first attempt (it streamed ``w1 w2 w3``) and the one that continued it."""
    [failed] = seen(fault, first)
    assert failed.text_sent == SHOWN and failed.prefill is None
    [continued] = seen(fault, then)
    assert continued.prefill == SHOWN  # the partial answer as the last (assistant) message
    assert continued.text_sent == REST
    return failed, continued


# -- resume -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", matrix("cut", "cut-an", streams_only=True))
def test_a_cut_stream_resumes_on_the_next_prefill_model_as_one_continuous_answer(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    cut, without_prefill, with_prefill = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=True)
    assert_whole(got, case, cut)  # one answer, "w1 ... w10", under the model the stream started with
    assert starts(got, case.client) == 1
    resumed(fault, cut, with_prefill)
    assert seen(fault, without_prefill) == []  # no prefill capability: never sent one
    # usage covers both attempts: the continuation's 7 words and what the cut one relayed
    assert got.output_tokens == len(REST.split()) + CUT_CHARS_AS_TOKENS
    assert got.input_tokens is not None and got.input_tokens >= 2 * len(PROMPT.split()) + len(SHOWN.split())


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_a_cut_with_no_prefill_model_left_ends_with_the_in_band_error(
    clients: Clients, fault: FaultUpstream, client: str
) -> None:
    cut, without_prefill = candidates("cut-honest")
    got = clients.call(client, "cut-honest", stream=True)
    assert got.text == SHOWN and got.finish is None
    assert got.error is not None  # the SDK raised on the error event: the client knows it is cut short
    assert "mid-response" in str(in_band_error(got, client)["message"])
    assert [r.text_sent for r in seen(fault, cut)] == [SHOWN]  # not retried either: bytes were shown
    assert seen(fault, without_prefill) == []


def test_a_stalled_stream_resumes_after_the_idle_timeout(clients: Clients, fault: FaultUpstream) -> None:
    stalled, with_prefill = candidates("stall")
    got = clients.call("openai", "stall", stream=True)
    assert_whole(got, Case("openai", True, "stall"), stalled)
    failed, continued = resumed(fault, stalled, with_prefill)
    assert failed.disconnected  # the gateway gave up on the silent stream and closed it
    assert continued.received_at - failed.received_at >= IDLE - SCHEDULING_SLACK


def test_a_stalled_stream_with_nothing_to_resume_on_ends_with_the_in_band_error(
    clients: Clients, fault: FaultUpstream
) -> None:
    [stalled] = candidates("stall-honest")
    got = clients.call("anthropic", "stall-honest", stream=True)
    assert got.text == SHOWN and got.error is not None
    assert "silent" in str(in_band_error(got, "anthropic")["message"])
    [failed] = seen(fault, stalled)
    assert failed.disconnected


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_an_upstream_in_band_error_resumes_on_the_next_prefill_model(
    clients: Clients, fault: FaultUpstream, client: str
) -> None:
    failing, with_prefill = candidates("in-band")
    got = clients.call(client, "in-band", stream=True)
    assert_whole(got, Case(client, True, "in-band"), failing)
    assert starts(got, client) == 1
    failed, _ = resumed(fault, failing, with_prefill)
    assert failed.played == "error3"


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_frames_that_came_before_an_in_band_error_reach_the_client_before_it(
    clients: Clients, fault: FaultUpstream, client: str
) -> None:
    [failing] = candidates("in-band-an")
    got = clients.call(client, "in-band-an", stream=True)
    assert got.text == SHOWN and got.error is not None
    assert "Overloaded" in str(in_band_error(got, client)["message"])  # the upstream's error, in the client's shape
    [failed] = seen(fault, failing)
    assert failed.text_sent == SHOWN and failed.finished_at is not None  # it sent three words, then the error


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_a_partial_tool_call_is_never_resumed(clients: Clients, fault: FaultUpstream, client: str) -> None:
    cut, with_prefill = candidates("tool-cut")
    got = clients.call(client, "tool-cut", stream=True)
    assert got.error is not None and got.text == ""
    assert (b'"tool_calls"' if client == "openai" else b'"tool_use"') in got.raw  # the call had started
    in_band_error(got, client)
    [failed] = seen(fault, cut)
    assert failed.content_frames == 3
    assert seen(fault, with_prefill) == []


# -- a fallback that rejects the prefill ----------------------------------------------------------


def test_a_model_declared_with_prefill_that_rejects_it_is_passed_over_for_the_next(
    clients: Clients, fault: FaultUpstream
) -> None:
    cut, liar, with_prefill = candidates("liar-first")
    got = clients.call("openai", "liar-first", stream=True)
    assert_whole(got, Case("openai", True, "liar-first"), cut)
    [rejected] = seen(fault, liar)
    assert (rejected.prefill, rejected.status, rejected.played) == (SHOWN, 400, "noprefill")
    resumed(fault, cut, with_prefill)
    assert (
        pause(rejected, seen(fault, with_prefill)[0]) >= -SCHEDULING_SLACK
    )  # the next one was asked after the refusal


def test_when_the_only_prefill_model_rejects_it_the_stream_ends_honestly(
    clients: Clients, fault: FaultUpstream
) -> None:
    cut, liar = candidates("liar-only")
    got = clients.call("anthropic", "liar-only", stream=True)
    assert got.text == SHOWN and got.error is not None
    assert "mid-response" in str(in_band_error(got, "anthropic")["message"])  # the cut, the failure the client lived
    [rejected] = seen(fault, liar)  # asked once, not retried
    assert (rejected.prefill, rejected.status) == (SHOWN, 400)
    assert [r.text_sent for r in seen(fault, cut)] == [SHOWN]


# -- reading upstream streams robustly ------------------------------------------------------------


@pytest.mark.parametrize("case", matrix("malformed", "malformed-an", streams_only=True))
def test_one_malformed_event_is_skipped_and_the_stream_goes_on(site: Site, fault: FaultUpstream, case: Case) -> None:
    [model] = candidates(case.alias)
    got = site.clients.call(case.client, case.alias, stream=True)
    assert_whole(got, case, model)
    assert got.output_tokens == 10
    [answered] = seen(fault, model)
    assert answered.played == "bad3" and answered.finished_at is not None  # the garbage was in it
    channel = "oa" if answered.wire == "openai" else "an"
    logged = f"skipped 1 malformed SSE event(s) from {channel}/{model}"
    wait_until(lambda: logged in site.gateway.logs(), what=f"the log line {logged!r}")


@pytest.mark.parametrize("case", matrix("unterminated", "unterminated-an", streams_only=True))
def test_a_stream_that_finished_without_its_terminator_is_complete(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    [model] = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=True)
    assert_whole(got, case, model)  # a clean end in the client's format, [DONE] / message_stop included
    assert (got.input_tokens, got.output_tokens) == (3, 10)  # and the usage that came before the missing end
    [answered] = seen(fault, model)
    assert answered.played == "noterm" and answered.text_sent == FULL


# -- whole answers: nothing was shown, so nothing is resumed --------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Case("openai", False, "cut"), id="openai-client-openai-upstream"),
        pytest.param(Case("anthropic", False, "cut-an"), id="anthropic-client-anthropic-upstream"),
    ],
)
def test_a_whole_answer_cut_mid_body_is_retried_then_falls_back_without_a_prefill(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    cut, without_prefill, with_prefill = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=False)
    assert_whole(got, case, without_prefill)
    assert failures(got) == [attempt(cut, "stream_cut")] * 2
    assert [r.status for r in seen(fault, cut)] == [200, 200]  # half a body each time
    assert [r.prefill for r in seen(fault, without_prefill)] == [None]
    assert seen(fault, with_prefill) == []


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_a_whole_answer_that_stalls_mid_body_falls_back_after_the_idle_timeout(
    clients: Clients, fault: FaultUpstream, client: str
) -> None:
    stalled, fallback = candidates("stall")
    got = clients.call(client, "stall", stream=False)
    assert_whole(got, Case(client, False, "stall"), fallback)
    assert failures(got) == [attempt(stalled, "idle_timeout")]
    [failed] = seen(fault, stalled)  # half a body, then silence: a stall, not retried
    assert failed.status == 200 and failed.disconnected
    [served] = seen(fault, fallback)
    assert served.prefill is None and served.received_at - failed.received_at >= IDLE - SCHEDULING_SLACK


def test_a_whole_answer_that_is_an_error_object_is_not_an_answer(clients: Clients, fault: FaultUpstream) -> None:
    failing, fallback = candidates("in-band")
    got = clients.call("openai", "in-band", stream=False)
    assert_whole(got, Case("openai", False, "in-band"), fallback)
    assert failures(got) == [attempt(failing, "server")]
    assert [r.prefill for r in seen(fault, fallback)] == [None]


def test_an_anthropic_error_object_in_a_whole_answer_is_retried_as_overloaded(
    clients: Clients, fault: FaultUpstream
) -> None:
    [failing] = candidates("in-band-an")
    error = refused(clients, "anthropic", "in-band-an", stream=False)
    assert error.status == 502
    assert error.tried() == [attempt(failing, "529")] * 2
    assert len(seen(fault, failing)) == 2
