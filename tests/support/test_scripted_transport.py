"""The scripted transport itself: scripts per model, vendor error bodies the real
classifiers read, and the deadlines and failures the real transport would report."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import orjson
import pytest

from engine.errors import UpstreamError
from engine.policy.compiled import Timeouts
from providers.anthropic.error_classifier import classify_error as classify_anthropic
from providers.base import UpstreamRequest
from providers.openai.error_classifier import classify_http_error as classify_openai
from tests.support import openai_wire
from tests.support.scripted_transport import Hang, Json, Raise, ScriptedTransport, Sse, Status

OPENAI = "https://alpha.example/v1/chat/completions"
ANTHROPIC = "https://claude.example/v1/messages"
FAST = Timeouts(first_byte=0.01, idle=0.01)
Classify = Callable[[int, Mapping[str, str], bytes], UpstreamError]


def request(url: str, model: str, stream: bool = False) -> UpstreamRequest:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return UpstreamRequest("POST", url, {"content-type": "application/json"}, orjson.dumps(body))


async def test_replies_play_per_model_in_order_then_the_default_queue_then_always() -> None:
    clock = iter([1.0, 2.0, 3.0, 4.0])
    transport = ScriptedTransport(clock=lambda: next(clock))
    transport.script("a", Json({"n": 1}), Json({"n": 2}))
    transport.script(None, Json({"n": "any"}))
    transport.always("a", Json({"n": "always"}))
    bodies = [orjson.loads((await transport.fetch(request(OPENAI, "a"), FAST))[2])["n"] for _ in range(4)]
    assert bodies == [1, 2, "any", "always"]
    assert transport.models() == ["a"] * 4 and [r.at for r in transport.requests] == [1.0, 2.0, 3.0, 4.0]
    assert transport.requests[0].body["messages"][0]["content"] == "hi" and transport.pending() == 0


async def test_an_unscripted_request_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="nothing scripted for upstream model 'b'"):
        await ScriptedTransport().fetch(request(OPENAI, "b"), FAST)


@pytest.mark.parametrize(
    ("url", "classify", "failure"),
    [(OPENAI, classify_openai, "rate_limit"), (ANTHROPIC, classify_anthropic, "rate_limit")],
    ids=["openai", "anthropic"],
)
async def test_a_status_carries_the_vendors_envelope_and_retry_after(
    url: str, classify: Classify, failure: str
) -> None:
    transport = ScriptedTransport()
    transport.script("m", Status(429, retry_after=7))
    status, headers, body, _ = await transport.fetch(request(url, "m"), FAST)
    err = classify(status, headers, body)
    assert (err.failure, err.retry_after, headers["retry-after"]) == (failure, 7.0, "7")


async def test_a_stream_plays_its_frames_then_a_cut() -> None:
    transport = ScriptedTransport()
    frames = openai_wire.stream_frames(["a"], "m", done=False)
    transport.script("m", Sse(frames, cut=True))
    response = await transport.send(request(OPENAI, "m", stream=True), FAST)
    seen: list[bytes] = []
    with pytest.raises(UpstreamError) as caught:
        async for chunk in response.chunks():
            seen.append(chunk)
    assert seen == frames and caught.value.failure == "stream_cut"
    assert transport.requests[0].closed


async def test_silence_past_idle_is_a_timeout_and_a_hung_whole_answer_times_out_on_its_headers() -> None:
    transport = ScriptedTransport()
    transport.script("m", Sse([b"data: {}\n\n", b"data: {}\n\n"], delay_s=1.0), Hang())
    response = await transport.send(request(OPENAI, "m", stream=True), FAST)
    chunks = response.chunks()
    assert await anext(chunks) == b"data: {}\n\n"
    with pytest.raises(UpstreamError, match="went silent") as silent:
        await anext(chunks)
    with pytest.raises(UpstreamError, match="no response headers within 0.01s") as hung:
        await transport.fetch(request(OPENAI, "m"), FAST)
    assert silent.value.failure == hung.value.failure == "timeout"


async def test_raise_is_raised_by_send_and_fetch() -> None:
    transport = ScriptedTransport()
    transport.always("m", Raise(UpstreamError("connect", "refused")))
    for call in (transport.send, transport.fetch):
        with pytest.raises(UpstreamError, match="refused"):
            await call(request(OPENAI, "m"), FAST)
