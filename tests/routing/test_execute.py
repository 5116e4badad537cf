"""The executor (fallback loop -> retry loop -> one attempt) through its transport seam:
scripted upstream replies in the vendors' wire shapes, real plans and exchanges, a fake
clock for backoff, no network (see ``tests.support.executor_rig`` for the routes).

Retries, backoff, Retry-After, fallback order, the answers that stop a request, context-
length fallback and the all-failed error; streams are in ``test_execute_streams``, breakers
in ``test_execute_breakers``. Each test's name says the behaviour it pins, as it is today.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import AllUpstreamsFailed, UnsupportedFeature, UpstreamError
from engine.exchange import Exchange
from engine.policy.compiled import CompiledPolicy
from engine.routing.execute import Completed, Streaming
from engine.routing.plan import Attempt
from tests.support import anthropic_wire, openai_wire
from tests.support.executor_rig import Rig, answer, drain, load
from tests.support.scripted_transport import Hang, Json, Raise, Reply, Sse, Status

CONTEXT_ERROR = openai_wire.error_body(
    "This model's maximum context length is 8000 tokens. However, your messages resulted in 9100 tokens.",
    code="context_length_exceeded",
    param="messages",
)
ANTHROPIC_CONTEXT_ERROR = anthropic_wire.error_body(
    "invalid_request_error", "prompt is too long: 210417 tokens > 200000 maximum"
)
SAFETY_ERROR = openai_wire.error_body(
    "Your request was rejected as a result of our safety system.", code="content_policy_violation"
)
ANTHROPIC_SAFETY_ERROR = anthropic_wire.error_body(
    "invalid_request_error", "Output blocked by content filtering policy"
)
BAD_PARAM_ERROR = openai_wire.error_body(
    "Invalid value for 'temperature': expected a number between 0 and 2.", code="invalid_value", param="temperature"
)
NARROW = '[retry]\non = [429, 503, "timeout"]\nattempts = 2\n'  # neither 500 nor "connect"
CONNECT = UpstreamError("connect", "could not reach the upstream: ClientConnectorError")


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    return load(tmp_path_factory.mktemp("policy"))


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    return load(tmp_path_factory.mktemp("narrow"), NARROW)


@pytest.fixture
def rig(policy: CompiledPolicy) -> Rig:
    return Rig(policy)


# -- which failures are retried -------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(
    ("retry_on", "reply", "failure", "tries"),
    [
        pytest.param("default", Status(429), "rate_limit", 2, id="429-listed-retried"),
        pytest.param("default", Status(500), "server", 2, id="500-listed-retried"),
        pytest.param("default", Status(502), "server", 2, id="502-listed-retried"),
        pytest.param("default", Status(503), "server", 2, id="503-listed-retried"),
        pytest.param("default", Status(504), "server", 2, id="504-listed-retried"),
        pytest.param("default", Status(529), "server", 1, id="529-unlisted-falls-back"),
        pytest.param("default", Status(404), "not_found", 1, id="404-falls-back-at-once"),
        pytest.param("default", Status(408), "timeout", 2, id="408-is-a-timeout-retried"),
        pytest.param("default", Raise(CONNECT), "connect", 2, id="connect-listed-retried"),
        pytest.param("narrow", Status(500), "server", 1, id="narrow-500-unlisted-falls-back"),
        pytest.param("narrow", Status(503), "server", 2, id="narrow-503-listed-retried"),
        pytest.param("narrow", Status(429), "rate_limit", 2, id="narrow-429-listed-retried"),
        pytest.param("narrow", Status(408), "timeout", 2, id="narrow-408-timeout-listed-retried"),
        pytest.param("narrow", Raise(CONNECT), "connect", 1, id="narrow-connect-unlisted-falls-back"),
    ],
)
async def test_a_failure_is_retried_on_the_same_candidate_only_when_the_policys_retry_on_lists_it(
    policy: CompiledPolicy, narrow: CompiledPolicy, retry_on: str, reply: Reply, failure: str, tries: int, stream: bool
) -> None:
    rig = Rig(policy if retry_on == "default" else narrow)
    rig.transport.always("alpha-small", reply)
    rig.transport.script("beta-small", answer("beta-small", stream))
    result = await rig.run("smart", stream=stream)
    await drain(result)
    assert rig.transport.models() == ["alpha-small"] * tries + ["beta-small"]
    assert rig.tried() == [failure] * tries + ["ok"]
    assert result.outcome.attempt.target.channel == "beta"


@pytest.mark.parametrize(
    ("retry_on", "reply", "tries"),
    [
        pytest.param("default", Sse([], cut=True), 2, id="cut-before-any-byte-retried-as-connect"),
        pytest.param("narrow", Sse([], cut=True), 1, id="narrow-cut-before-any-byte-unlisted-falls-back"),
        pytest.param("default", Hang(), 1, id="first-byte-timeout-moves-on-at-once"),
    ],
)
async def test_a_stream_failing_before_its_first_byte_is_retried_like_its_kind(
    policy: CompiledPolicy, narrow: CompiledPolicy, retry_on: str, reply: Reply, tries: int
) -> None:
    rig = Rig(policy if retry_on == "default" else narrow)
    rig.transport.always("alpha-small", reply)
    rig.transport.script("beta-small", answer("beta-small", True))
    await drain(await rig.run("smart", stream=True))
    assert rig.transport.models() == ["alpha-small"] * tries + ["beta-small"]


TERMINAL = [
    pytest.param("smart", "alpha-small", Status(400, BAD_PARAM_ERROR), "bad_request", 400, id="openai-400"),
    pytest.param("smart", "alpha-small", Status(401), "auth", 502, id="openai-401"),
    pytest.param("smart", "alpha-small", Status(403), "auth", 502, id="openai-403"),
    pytest.param("smart", "alpha-small", Status(422), "bad_request", 422, id="openai-422"),
    pytest.param("poly", "claude-haiku", Status(400), "bad_request", 400, id="anthropic-400"),
    pytest.param("poly", "claude-haiku", Status(401), "auth", 502, id="anthropic-401"),
    pytest.param("poly", "claude-haiku", Status(402), "auth", 502, id="anthropic-402-billing"),
    pytest.param("poly", "claude-haiku", Status(403), "auth", 502, id="anthropic-403"),
]
REFUSALS = [
    pytest.param("smart", "alpha-small", Status(400, SAFETY_ERROR), "content_filter", 400, id="openai"),
    pytest.param("poly", "claude-haiku", Status(400, ANTHROPIC_SAFETY_ERROR), "content_filter", 400, id="anthropic"),
]


async def _is_the_answer(rig: Rig, route: str, upstream: str, failure: str, status: int, stream: bool) -> None:
    """The first attempt's error reaches the caller as it is: one request, no wait."""
    with pytest.raises(UpstreamError) as caught:
        await rig.run(route, stream=stream)
    assert (caught.value.failure, caught.value.status) == (failure, status)
    assert rig.transport.models() == [upstream]
    assert rig.tried() == [failure]
    assert rig.clock.slept == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("route", "upstream", "reply", "failure", "status"), TERMINAL)
async def test_400_401_403_are_neither_retried_nor_routed_around(
    rig: Rig, route: str, upstream: str, reply: Reply, failure: str, status: int, stream: bool
) -> None:
    rig.transport.always(upstream, reply)
    await _is_the_answer(rig, route, upstream, failure, status, stream)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("route", "upstream", "reply", "failure", "status"), REFUSALS)
async def test_a_content_policy_refusal_stops_without_retry_or_fallback(
    rig: Rig, route: str, upstream: str, reply: Reply, failure: str, status: int, stream: bool
) -> None:
    rig.transport.always(upstream, reply)
    await _is_the_answer(rig, route, upstream, failure, status, stream)


# -- how long between tries -----------------------------------------------------------------

BACKOFF = "[retry]\non = [500]\nattempts = 6\nbackoff = { base = 0.5, max = 3.0 }\n"


async def test_backoff_doubles_per_retry_up_to_backoff_max_with_equal_jitter(tmp_path: Path) -> None:
    """Retry n waits within [cap/2, cap], cap = min(backoff.max, backoff.base * 2^n); the
    random half spreads over its whole range across seeds."""
    policy = load(tmp_path, BACKOFF)
    caps = [min(3.0, 0.5 * 2**n) for n in range(5)]  # 0.5, 1, 2, 3, 3
    waits: list[list[float]] = [[] for _ in caps]
    for seed in range(60):
        rig = Rig(policy, seed=seed)
        rig.transport.always("alpha-big", Status(500))
        with pytest.raises(AllUpstreamsFailed):
            await rig.run("big")
        assert len(rig.clock.slept) == len(caps)  # no wait after the last try
        for n, delay in enumerate(rig.clock.slept):
            assert caps[n] / 2 <= delay <= caps[n], (seed, n, delay)
            waits[n].append(delay)
    for cap, seen in zip(caps, waits, strict=True):
        assert min(seen) < 0.6 * cap and max(seen) > 0.9 * cap


async def test_moving_on_to_the_next_candidate_does_not_wait(rig: Rig) -> None:
    rig.transport.always("alpha-small", Status(500))
    rig.transport.always("beta-small", Status(500))
    rig.transport.script("alpha-big", answer("alpha-big", False))
    await rig.run("smart")
    assert len(rig.clock.slept) == 2  # one backoff per candidate, between its two tries
    at = [r.at for r in rig.transport.requests]
    assert at[1] > at[0] and at[2] == at[1] and at[4] == at[3]


@pytest.mark.parametrize(
    ("route", "upstream", "reply"),
    [
        pytest.param("smart", "alpha-small", Status(429, retry_after=5), id="openai-429"),
        pytest.param("smart", "alpha-small", Status(503, retry_after=5), id="openai-503"),
        pytest.param("smart", "alpha-small", Status(429, retry_after=30), id="equal-to-max_retry_after"),
        pytest.param("poly", "claude-haiku", Status(429, retry_after=5), id="anthropic-429"),
    ],
)
async def test_retry_after_is_waited_before_the_retry(rig: Rig, route: str, upstream: str, reply: Status) -> None:
    assert reply.retry_after is not None
    rig.transport.script(upstream, reply, answer(upstream, False))
    result = await rig.run(route)
    [wait] = rig.clock.slept
    assert wait >= reply.retry_after
    first, second = rig.transport.requests
    assert second.at - first.at >= reply.retry_after
    assert result.outcome.attempt.target.upstream_model == upstream


async def test_a_retry_after_shorter_than_the_backoff_waits_the_backoff(rig: Rig) -> None:
    rig.transport.script("alpha-small", Status(429, retry_after=0.001), answer("alpha-small", False))
    await rig.run("smart")
    [wait] = rig.clock.slept
    assert 0.125 <= wait <= 0.25  # backoff: base 0.25, first retry


@pytest.mark.parametrize(
    "reply",
    [Status(429, retry_after=31), Status(429, retry_after=3600), Status(503, retry_after=31)],
    ids=["429-31s", "429-1h", "503-31s"],
)
async def test_a_retry_after_over_max_retry_after_falls_back_instead_of_waiting(rig: Rig, reply: Status) -> None:
    rig.transport.script("alpha-small", reply)
    rig.transport.script("beta-small", answer("beta-small", False))
    result = await rig.run("smart")
    assert rig.clock.slept == []
    assert rig.transport.models() == ["alpha-small", "beta-small"]
    assert result.outcome.attempt.target.channel == "beta"


# -- fallback order and the records ----------------------------------------------------------


async def test_attempts_follow_the_plans_order_and_all_failed_names_every_attempt(rig: Rig) -> None:
    rig.transport.always("alpha-small", Status(500))
    rig.transport.always("beta-small", Status(503))
    rig.transport.always("alpha-big", Status(502))
    with pytest.raises(AllUpstreamsFailed) as caught:
        await rig.run("smart")
    order = ["alpha-small", "alpha-small", "beta-small", "beta-small", "alpha-big", "alpha-big"]
    assert rig.transport.models() == order
    assert [r.number for r in rig.records] == [1, 2, 3, 4, 5, 6]
    assert [r.attempt.target.upstream_model for r in rig.records] == order
    err = caught.value
    assert (err.status, err.kind) == (502, "upstream_error")
    summary = [(a.channel, a.model, a.failure, a.status) for a in err.attempts]
    statuses = [500, 500, 503, 503, 502, 502]
    channels = ["alpha", "alpha", "beta", "beta", "alpha", "alpha"]
    models = ["small"] * 4 + ["big"] * 2
    assert summary == list(zip(channels, models, ["server"] * 6, statuses, strict=True))
    for channel, model, status in zip(channels, models, statuses, strict=True):
        assert f"{channel}/{model}: server {status}" in err.message


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_the_serving_attempt_is_numbered_after_the_failed_ones(rig: Rig, stream: bool) -> None:
    rig.transport.always("alpha-small", Status(500))
    rig.transport.always("beta-small", Raise(CONNECT))
    rig.transport.script("alpha-big", answer("alpha-big", stream, "served by big"))
    result = await rig.run("smart", stream=stream)
    body = await drain(result)
    assert b"served by big" in body and b'"model":"big"' in body  # the public id that served
    outcome = result.outcome
    assert (outcome.attempt.target.channel, outcome.attempt.target.model) == ("alpha", "big")
    assert outcome.attempts_made == 5
    assert [r.number for r in rig.records] == [1, 2, 3, 4, 5]
    assert rig.tried() == ["server", "server", "connect", "connect", "ok"]
    assert (rig.records[-1].status, rig.records[-1].attempt) == (200, outcome.attempt)
    assert outcome.records is rig.records  # the caller's list


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_all_attempts_timed_out_is_504(rig: Rig, stream: bool) -> None:
    rig.transport.always("alpha-small", Hang())
    rig.transport.always("beta-small", Hang())
    with pytest.raises(AllUpstreamsFailed) as caught:
        await rig.run("pair", stream=stream)
    assert (caught.value.status, caught.value.kind) == (504, "upstream_timeout")
    assert [a.failure for a in caught.value.attempts] == ["timeout"] * 2  # a silent one is not asked again


async def test_some_attempts_timed_out_and_others_failed_is_502(rig: Rig) -> None:
    rig.transport.always("alpha-small", Hang())
    rig.transport.always("beta-small", Status(500))
    with pytest.raises(AllUpstreamsFailed) as caught:
        await rig.run("pair", stream=True)
    assert caught.value.status == 502
    assert [a.failure for a in caught.value.attempts] == ["timeout", "server", "server"]


# -- context length ----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(
    ("route", "client", "tried"),
    [
        pytest.param("smart", "openai", ["alpha-small", "alpha-big"], id="openai-skips-same-window-beta"),
        pytest.param("poly", "anthropic", ["claude-haiku", "claude-sonnet"], id="anthropic"),
    ],
)
async def test_a_context_length_error_falls_back_only_to_a_larger_context_window(
    rig: Rig, route: str, client: str, tried: list[str], stream: bool
) -> None:
    small, large = tried
    error = CONTEXT_ERROR if small.startswith("alpha") else ANTHROPIC_CONTEXT_ERROR
    rig.transport.always(small, Status(400, error))
    rig.transport.always("beta-small", answer("beta-small", stream))  # same 8k window: never asked
    rig.transport.script(large, answer(large, stream))
    result = await rig.run(route, client, stream)
    await drain(result)
    assert rig.transport.models() == tried  # no resend to the window that was too small
    assert rig.tried() == ["context_length", "ok"]
    assert rig.clock.slept == []
    assert result.outcome.attempt.context_window == 200000


async def test_a_context_length_error_reaches_the_caller_when_no_larger_window_is_left(rig: Rig) -> None:
    rig.transport.always("alpha-small", Status(400, CONTEXT_ERROR))
    rig.transport.always("beta-small", answer("beta-small", False))
    with pytest.raises(UpstreamError) as caught:
        await rig.run("pair")
    err = caught.value
    assert (err.failure, err.status, err.kind) == ("context_length", 400, "context_length")
    assert "maximum context length is 8000 tokens" in err.message
    assert rig.transport.models() == ["alpha-small"]


async def test_the_context_length_error_is_reported_when_the_larger_window_then_fails_otherwise(rig: Rig) -> None:
    rig.transport.always("alpha-small", Status(400, CONTEXT_ERROR))
    rig.transport.always("alpha-big", Status(500))
    with pytest.raises(UpstreamError) as caught:
        await rig.run("smart")
    assert caught.value.failure == "context_length"
    assert rig.transport.models() == ["alpha-small", "alpha-big", "alpha-big"]
    assert rig.tried() == ["context_length", "server", "server"]


# -- attempts that cannot be made --------------------------------------------------------------


async def test_an_attempt_whose_exchange_cannot_be_made_is_skipped_without_a_request(rig: Rig) -> None:
    rig.transport.script("beta-small", answer("beta-small", False))
    make = rig.exchanges("smart")

    def skipping(attempt: Attempt) -> Exchange:
        if attempt.target.channel == "alpha":
            raise UnsupportedFeature(["input_audio"], "openai")
        return make(attempt)

    result = await rig.executor.run(rig.route("smart"), rig.policy, skipping, False, rig.records)
    assert isinstance(result, Completed)
    assert rig.transport.models() == ["beta-small"]
    assert [r.number for r in rig.records] == [1]


async def test_the_feature_error_reaches_the_caller_when_no_attempt_could_be_made(rig: Rig) -> None:
    def never(attempt: Attempt) -> Exchange:
        raise UnsupportedFeature(["input_audio"], attempt.target.channel)

    with pytest.raises(UnsupportedFeature) as caught:
        await rig.executor.run(rig.route("smart"), rig.policy, never, False, rig.records)
    assert caught.value.status == 400 and "input_audio" in caught.value.message
    assert rig.transport.requests == [] and rig.records == []


# -- what a served attempt carries ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "client", "upstream"),
    [
        pytest.param("smart", "openai", "alpha-small", id="openai-passthrough"),
        pytest.param("poly", "openai", "claude-haiku", id="anthropic-translated"),
        pytest.param("smart", "anthropic", "alpha-small", id="openai-translated"),
    ],
)
async def test_a_whole_answer_carries_the_public_model_and_the_upstreams_usage(
    rig: Rig, route: str, client: str, upstream: str
) -> None:
    reply = answer(upstream, False, "four words of answer")
    assert isinstance(reply, Json)
    rig.transport.script(upstream, reply)
    result = await rig.run(route, client)
    assert isinstance(result, Completed)
    public = rig.records[0].attempt.target.model
    assert f'"model":"{public}"'.encode() in result.body and b"four words of answer" in result.body
    assert result.outcome.usage is not None and result.outcome.usage.output_tokens == 4
    assert [(r.number, r.status, r.failure) for r in rig.records] == [(1, 200, None)]
    assert rig.transport.requests[0].stream is False


async def test_a_committed_stream_is_returned_with_its_first_bytes_before_the_rest_is_read(rig: Rig) -> None:
    rig.transport.script("alpha-small", Sse(openai_wire.stream_frames(["one ", "two"], "alpha-small")))
    result = await rig.run("smart", stream=True)
    assert isinstance(result, Streaming)
    # committed at the first token: the role chunk and "one " go out together, "two" after
    assert b'"role":"assistant"' in result.first and b"one" in result.first and b"two" not in result.first
    assert rig.records == []  # the serving attempt is recorded when its stream ends
    rest = b"".join([chunk async for chunk in result.rest])
    assert b"two" in rest and rest.endswith(openai_wire.DONE)
    assert result.finished
    [record] = rig.records
    assert (record.number, record.status, record.failure) == (1, 200, None)
    assert record.ttfb_ms is not None
