"""Matrix rows: upstream error (before any byte) and mid-stream upstream error.

An upstream 400 is the caller's fault: it reaches the client as a 400 in the client's own
error shape, with the upstream's message. An upstream 429 on the only candidate (retries
off in this policy) ends as the gateway's 429 "all upstream attempts failed" with a
Retry-After, naming the 429 and carrying the upstream's message. Once bytes reached the client, a failure ends the
stream with the client format's in-band error and never a clean end.
"""

from __future__ import annotations

import pytest

from tests.conformance.case import Case
from tests.conformance.clients.base import Turn
from tests.conformance.matrix import cell_test

ASK = Turn("Invent a new holiday.")


@cell_test("upstream-error")
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_upstream_400_is_the_clients_400(case: Case, stream: bool) -> None:
    error = case.vendor.error_400()
    case.fake.script(case.vendor.upstream_model, error.reply)
    failure = case.client.fail(case.model, ASK, stream=stream)
    assert issubclass(failure.exception, case.client.error_classes(400)), failure
    case.client.check_error_shape(failure, 400)
    assert error.message in failure.message
    assert len(case.fake.requests) == 1  # a 400 is never retried or routed around


@cell_test("upstream-error")
def test_upstream_429_ends_as_rate_limited(case: Case) -> None:
    error = case.vendor.error_429()
    case.fake.script(case.vendor.upstream_model, error.reply)
    failure = case.client.fail(case.model, ASK)
    assert issubclass(failure.exception, case.client.error_classes(429)), failure
    case.client.check_error_shape(failure, 429)
    assert f"up-{case.vendor.format}/via-{case.vendor.format}: rate_limit 429" in failure.message
    assert error.message in failure.message


@cell_test("midstream-error")
def test_sdk_stream_raises_after_the_text_it_got(case: Case) -> None:
    failing = case.vendor.midstream_error()
    case.fake.script(case.vendor.upstream_model, failing.reply)
    interrupted = case.client.interrupted(case.model, ASK)
    assert failing.text_before and interrupted.text_before == failing.text_before
    assert len(case.fake.requests) == 1  # bytes reached the client: no retry


@cell_test("midstream-error")
def test_raw_stream_ends_with_the_in_band_error(case: Case) -> None:
    failing = case.vendor.midstream_error()
    case.fake.script(case.vendor.upstream_model, failing.reply)
    raw = case.client.raw_stream(case.model, ASK.prompt)
    case.client.check_in_band_error(raw)
