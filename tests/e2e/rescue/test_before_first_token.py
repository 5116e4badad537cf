"""Failures before the first token, through the real gateway and both official SDKs: the
client never sees them. Retried with a backoff (429, 5xx, a reset before any header),
``Retry-After`` honoured, a silent or slow candidate never asked twice (the next one starts
at once), a context-length error handed to a larger window only, a content filter returned
as the answer, and, when everything failed, 429 / 504 / 502 naming every attempt.

Each test checks what the client got and what the fault upstream received."""

from __future__ import annotations

import pytest

from tests.e2e.rescue.cases import (
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
from tests.e2e.rescue.clients import Clients, refused
from tests.e2e.rescue.policy import BACKOFF_BASE, FIRST_BYTE, FIRST_TOKEN
from tests.support.fault_upstream import FaultUpstream

FILTERED = {
    "openai": ("invalid_request_error", "content_policy_violation"),
    "anthropic": ("invalid_request_error", None),
}
RATE_LIMITED = {"openai": ("rate_limit_exceeded", "rate_limit_exceeded"), "anthropic": ("rate_limit_error", None)}
HEAD_FRAMES = {"openai": 1, "anthropic": 3}  # role-only chunk / message_start, content_block_start, ping


# -- retried on the same candidate ---------------------------------------------------------


@pytest.mark.parametrize("case", matrix("rate-limited", "rate-limited-an"))
def test_a_429_without_retry_after_is_retried_after_a_backoff_then_the_fallback_answers(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    primary, backup = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=case.stream)
    assert_whole(got, case, backup)
    assert failures(got) == [attempt(primary, "429")] * 2
    first, second = seen(fault, primary)
    assert (first.status, second.status) == (429, 429)
    assert pause(first, second) >= BACKOFF_BASE / 2 - SCHEDULING_SLACK  # the backoff, not at once
    [served] = seen(fault, backup)
    assert pause(second, served) >= -SCHEDULING_SLACK and served.prefill is None


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Case("openai", True, "retry-after"), id="openai-client-stream"),
        pytest.param(Case("anthropic", False, "retry-after"), id="anthropic-client-whole"),
    ],
)
def test_a_retry_after_is_waited_for_then_the_same_candidate_answers(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    [primary, backup] = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=case.stream)
    assert_whole(got, case, primary)
    assert failures(got) == [attempt(primary, "429")]
    limited, answered = seen(fault, primary)
    assert (limited.status, answered.status) == (429, 200)
    assert pause(limited, answered) >= 1.0 - SCHEDULING_SLACK  # Retry-After: 1
    assert seen(fault, backup) == []


@pytest.mark.parametrize("case", matrix("server-once", "server-once-an"))
def test_a_500_once_is_retried_on_the_same_candidate(clients: Clients, fault: FaultUpstream, case: Case) -> None:
    primary, backup = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=case.stream)
    assert_whole(got, case, primary)
    assert failures(got) == [attempt(primary, "500")]
    failed, answered = seen(fault, primary)
    assert (failed.status, answered.status) == (500, 200)
    assert pause(failed, answered) >= BACKOFF_BASE / 2 - SCHEDULING_SLACK
    assert seen(fault, backup) == []


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Case("openai", False, "unavailable"), id="openai-client-whole"),
        pytest.param(Case("anthropic", True, "unavailable"), id="anthropic-client-stream"),
    ],
)
def test_a_persistent_503_is_retried_once_then_the_fallback_answers(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    primary, backup = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=case.stream)
    assert_whole(got, case, backup)
    assert failures(got) == [attempt(primary, "503")] * 2
    first, second = seen(fault, primary)
    assert (first.status, second.status) == (503, 503)
    assert pause(first, second) >= BACKOFF_BASE / 2 - SCHEDULING_SLACK
    assert len(seen(fault, backup)) == 1


@pytest.mark.parametrize("case", matrix("reset", "reset-an"))
def test_a_connection_reset_before_the_headers_is_retried_then_falls_back(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    primary, backup = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=case.stream)
    assert_whole(got, case, backup)
    assert failures(got) == [attempt(primary, "connect")] * 2
    first, second = seen(fault, primary)
    assert first.status is None and second.status is None  # reset: no response ever started
    assert pause(first, second) >= BACKOFF_BASE / 2 - SCHEDULING_SLACK  # a reset is retried, with backoff
    assert len(seen(fault, backup)) == 1


# -- silent candidates: never asked twice ----------------------------------------------------


@pytest.mark.parametrize("case", matrix("silent", "silent-an"))
def test_an_upstream_that_never_answers_is_left_after_the_first_byte_deadline_and_not_asked_again(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    primary, backup = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=case.stream)
    assert_whole(got, case, backup)
    assert failures(got) == [attempt(primary, "first_byte_timeout")]
    [hung] = seen(fault, primary)  # one request: a silent candidate is not retried
    assert hung.status is None and hung.disconnected  # the gateway hung up on it
    [served] = seen(fault, backup)
    assert served.received_at - hung.received_at >= FIRST_BYTE - SCHEDULING_SLACK


@pytest.mark.parametrize("case", matrix("slow", "slow-an", streams_only=True))
def test_headers_and_keep_alives_without_a_token_hit_the_first_token_deadline(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    primary, backup = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=True)
    assert_whole(got, case, backup)
    assert failures(got) == [attempt(primary, "first_token_timeout")]
    [slow] = seen(fault, primary)
    assert slow.status == 200 and slow.content_frames == 0
    assert slow.frames_sent > HEAD_FRAMES[slow.wire or ""]  # the preamble and keep-alives went out...
    assert slow.disconnected  # ...and did not count: the gateway left before the first token
    [served] = seen(fault, backup)
    assert served.received_at - slow.received_at >= FIRST_TOKEN - SCHEDULING_SLACK


# -- refusals: moved on only where another candidate can do better ----------------------------


@pytest.mark.parametrize("case", matrix("too-long", "too-long-an"))
def test_a_context_length_error_moves_on_to_a_larger_window_only(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    small, peer, large = candidates(case.alias)
    got = clients.call(case.client, case.alias, stream=case.stream)
    assert_whole(got, case, large)
    assert failures(got) == [attempt(small, "context_length")]
    [refusal] = seen(fault, small)
    assert refusal.status == 400  # not retried
    assert seen(fault, peer) == []  # the same 8k window: skipped
    assert len(seen(fault, large)) == 1


@pytest.mark.parametrize("case", matrix("filtered", "filtered-an"))
def test_a_content_filter_is_the_answer_neither_retried_nor_routed_around(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    primary, backup = candidates(case.alias)
    error = refused(clients, case.client, case.alias, stream=case.stream)
    assert error.status == 400 and error.sdk_error == "BadRequestError"
    assert (error.type, error.code) == FILTERED[case.client]
    assert "content" in error.message and "polic" in error.message  # the upstream's own words
    assert error.tried() == [attempt(primary, "content_filter")]
    assert len(seen(fault, primary)) == 1
    assert seen(fault, backup) == []


# -- everything failed: an honest status naming every attempt ---------------------------------


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Case("openai", False, "all-limited"), id="openai-client-whole"),
        pytest.param(Case("anthropic", True, "all-limited"), id="anthropic-client-stream"),
    ],
)
def test_every_attempt_rate_limited_is_a_429_with_the_smallest_retry_after(
    clients: Clients, fault: FaultUpstream, case: Case
) -> None:
    first, second = candidates(case.alias)
    error = refused(clients, case.client, case.alias, stream=case.stream)
    assert (error.status, error.sdk_error) == (429, "RateLimitError")
    assert (error.type, error.code) == RATE_LIMITED[case.client]
    assert error.headers["retry-after"] == "2"  # the smaller of 3 and 2
    assert f"oa/{first}" in error.message and f"an/{second}" in error.message
    assert error.tried() == [attempt(first, "429"), attempt(second, "429")]
    # each Retry-After is above the policy's max_retry_after (1.5 s): moved on instead of waiting
    assert [r.status for r in seen(fault, first)] == [429]
    assert [r.status for r in seen(fault, second)] == [429]


def test_every_attempt_timed_out_is_a_504_and_each_silent_one_was_asked_once(
    clients: Clients, fault: FaultUpstream
) -> None:
    first, second = candidates("all-silent")
    error = refused(clients, "openai", "all-silent", stream=False)
    assert error.status == 504
    assert f"oa/{first}" in error.message and f"an/{second}" in error.message
    assert error.tried() == [attempt(first, "first_byte_timeout"), attempt(second, "first_byte_timeout")]
    [one], [other] = seen(fault, first), seen(fault, second)
    assert one.disconnected and other.disconnected
    assert other.received_at - one.received_at >= FIRST_BYTE - SCHEDULING_SLACK


@pytest.mark.parametrize(
    ("case", "whys"),
    [
        pytest.param(Case("anthropic", True, "all-broken"), ["503", "503", "529", "529"], id="all-5xx"),
        pytest.param(Case("openai", False, "mixed-failures"), ["429", "429", "first_byte_timeout"], id="mixed"),
    ],
)
def test_any_other_mix_of_failures_is_a_502_naming_every_attempt(
    clients: Clients, fault: FaultUpstream, case: Case, whys: list[str]
) -> None:
    first, second = candidates(case.alias)
    error = refused(clients, case.client, case.alias, stream=case.stream)
    assert error.status == 502
    assert error.message.count(f"/{first}:") == whys.count(whys[0])
    assert error.message.count(f"/{second}:") == len(whys) - whys.count(whys[0])
    assert error.tried() == [attempt(first, whys[0])] * whys.count(whys[0]) + [
        attempt(second, why) for why in whys[whys.count(whys[0]) :]
    ]
    assert len(fault.wait_idle()) == len(whys)
