"""Rescue in the executor, in process: resume after a cut on a prefill-capable candidate,
stream buffers (a failure inside the window is invisible), hedging, frames before an
in-band error, and what the client hears when everything failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.errors import AllUpstreamsFailed
from engine.policy.compiled import CompiledPolicy
from engine.routing.execute import Streaming
from tests.support import openai_wire
from tests.support.executor_rig import Rig, answer, drain, load
from tests.support.scripted_transport import Sse, Status

HEAD = openai_wire.stream_frames(["one ", "two "], "alpha-small", done=False)[:3]  # role, "one ", "two "
CUT_AFTER_TWO = Sse(HEAD, cut=True)
SERVER_ERROR = openai_wire.data_frame(
    openai_wire.error_body("The server had an error while processing your request.", "server_error")
)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    return load(tmp_path_factory.mktemp("policy"))


@pytest.fixture
def rig(policy: CompiledPolicy) -> Rig:
    return Rig(policy)


def chunks(body: bytes) -> list[dict[str, Any]]:
    """The OpenAI chunks (and error objects) of an SSE body, in order."""
    out = []
    for frame in body.split(b"\n\n"):
        if frame.startswith(b"data: ") and frame != b"data: [DONE]":
            out.append(orjson.loads(frame[6:]))
    return out


def text_of(body: bytes) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks(body) if c.get("choices"))


# -- resume --------------------------------------------------------------------------------


async def test_a_cut_stream_resumes_on_the_next_prefill_candidate_as_one_answer(rig: Rig) -> None:
    rig.transport.script("alpha-small", CUT_AFTER_TWO)
    rig.transport.script("alpha-big", Sse(openai_wire.stream_frames(["three"], "alpha-big")))
    result = await rig.run("smart", stream=True, resume=True)
    body = await drain(result)
    assert text_of(body) == "one two three"  # the whitespace cut off the prefill is not doubled
    assert body.endswith(openai_wire.DONE) and result.outcome.error is None
    sent = chunks(body)
    assert sum(1 for c in sent if c["choices"] and c["choices"][0]["delta"].get("role")) == 1
    assert [c["choices"][0]["finish_reason"] for c in sent if c["choices"] and c["choices"][0]["finish_reason"]] == [
        "stop"
    ]
    # beta-small has no prefill capability: skipped; big@alpha got the partial answer as a prefill
    assert rig.transport.models() == ["alpha-small", "alpha-big"]
    continued = rig.transport.requests_for("alpha-big")[0].body
    assert continued["messages"][-1] == {"role": "assistant", "content": "one two"}
    assert [(r.ended, r.delivered) for r in rig.records] == [("stream_cut", True), ("ok", True)]
    assert rig.records[0].output_chars == len("one two ")


async def test_a_stream_that_started_a_tool_call_is_never_resumed(rig: Rig) -> None:
    role = openai_wire.data_frame(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "alpha-small",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "run", "arguments": '{"cmd":'},
                            }
                        ],
                    },
                    "finish_reason": None,
                }
            ],
        }  # fmt: skip
    )
    rig.transport.script("alpha-small", Sse([role], cut=True))
    body = await drain(await rig.run("smart", stream=True, resume=True))
    assert "error" in chunks(body)[-1]  # the honest in-band error
    assert rig.transport.models() == ["alpha-small"]


async def test_no_prefill_candidate_left_ends_with_the_in_band_error(rig: Rig) -> None:
    rig.transport.script("alpha-small", CUT_AFTER_TWO)
    result = await rig.run("pair", stream=True, resume=True)  # small@alpha, small@beta: no prefill
    body = await drain(result)
    assert text_of(body) == "one two "
    assert "error" in chunks(body)[-1] and result.outcome.error is not None
    assert rig.transport.models() == ["alpha-small"]


async def test_frames_that_came_with_an_in_band_error_reach_the_client_before_it(rig: Rig) -> None:
    one_read = b"".join([*HEAD, SERVER_ERROR])  # the whole burst in one network read
    rig.transport.script("alpha-small", Sse([one_read]))
    body = await drain(await rig.run("pair", stream=True))
    assert text_of(body) == "one two "
    assert chunks(body)[-1]["error"]["message"].startswith("The server had an error")


# -- stream buffers -----------------------------------------------------------------------


async def test_a_full_buffer_makes_a_cut_before_the_end_invisible(rig: Rig) -> None:
    rig.transport.script("alpha-small", CUT_AFTER_TWO)
    rig.transport.script("beta-small", answer("beta-small", True, "pong"))
    result = await rig.run("held", stream=True)
    body = await drain(result)
    assert text_of(body) == "pong" and body.endswith(openai_wire.DONE)
    assert result.outcome.attempt.target.channel == "beta"
    assert [(r.attempt.target.channel, r.delivered) for r in rig.records] == [("alpha", False), ("beta", True)]
    assert rig.records[0].ended.startswith("stream_cut")


async def test_a_failure_inside_the_buffer_window_restarts_invisibly(rig: Rig) -> None:
    rig.transport.script("alpha-small", Sse(HEAD, delay_s=[0, 0, 0.02], cut=True))
    rig.transport.script("beta-small", answer("beta-small", True, "pong"))
    body = await drain(await rig.run("windowed", stream=True))
    assert text_of(body) == "pong"


async def test_after_the_buffer_window_a_cut_is_resumed_like_any_stream(rig: Rig) -> None:
    rig.transport.script("alpha-small", Sse(HEAD, delay_s=[0, 0, 0.25], cut=True))  # "two " after the window
    rig.transport.script("alpha-big", Sse(openai_wire.stream_frames(["three"], "alpha-big")))
    result = await rig.run("windowed", stream=True, resume=True)
    assert isinstance(result, Streaming)
    body = await drain(result)
    assert text_of(body) == "one two three"
    assert rig.transport.models() == ["alpha-small", "alpha-big"]


# -- hedging ------------------------------------------------------------------------------


async def test_a_hedge_races_the_next_candidate_and_the_first_token_wins(rig: Rig) -> None:
    slow = openai_wire.stream_frames(["slow"], "slow-steady")
    rig.transport.script("slow-steady", Sse(slow, delay_s=[0.4, 0, 0, 0]))
    rig.transport.script("alpha-small", answer("alpha-small", True, "quick"))
    result = await rig.run("racing", stream=True)
    body = await drain(result)
    assert text_of(body) == "quick"
    assert rig.transport.models() == ["slow-steady", "alpha-small"]
    by_channel = {r.attempt.target.channel: r for r in rig.records}
    assert (by_channel["slowpoke"].ended, by_channel["slowpoke"].delivered) == ("hedge_lost", False)
    assert (by_channel["alpha"].ended, by_channel["alpha"].delivered) == ("ok", True)
    assert rig.transport.requests_for("slow-steady")[0].closed  # the loser was cancelled at once
    started = [r.at for r in rig.transport.requests]
    assert started[1] >= started[0]


async def test_no_hedge_when_the_first_candidate_answers_in_time(rig: Rig) -> None:
    rig.transport.script("slow-steady", answer("slow-steady", True, "steady"))
    body = await drain(await rig.run("racing", stream=True))
    assert text_of(body) == "steady"
    assert rig.transport.models() == ["slow-steady"]


# -- when every attempt failed -------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_every_attempt_rate_limited_is_a_429_with_the_smallest_retry_after(rig: Rig, stream: bool) -> None:
    rig.transport.always("alpha-small", Status(429, retry_after=7))
    rig.transport.always("beta-small", Status(429, retry_after=3))
    with pytest.raises(AllUpstreamsFailed) as caught:
        await rig.run("pair", stream=stream)
    assert (caught.value.status, caught.value.kind) == (429, "rate_limited")
    assert caught.value.headers["retry-after"] == "3"
    assert [a.failure for a in caught.value.attempts] == ["rate_limit"] * 4


async def test_every_attempt_rate_limited_without_retry_after_waits_for_the_breaker(tmp_path: Path) -> None:
    rig = Rig(load(tmp_path, retry="[retry]\nattempts = 1\n", breaker="[breaker]\nfailures = 1\ncooldown = 12\n"))
    rig.transport.always("alpha-small", Status(429))
    rig.transport.always("beta-small", Status(429))
    with pytest.raises(AllUpstreamsFailed) as caught:
        await rig.run("pair")
    assert caught.value.status == 429 and caught.value.headers["retry-after"] == "12"


async def test_when_every_candidate_cools_down_panic_tries_the_one_that_reopens_first(tmp_path: Path) -> None:
    rig = Rig(load(tmp_path, retry="[retry]\nattempts = 1\n", breaker="[breaker]\nfailures = 1\ncooldown = 30\n"))
    rig.transport.script("alpha-small", Status(500))
    rig.clock.advance(10)
    rig.transport.script("beta-small", Status(500))
    with pytest.raises(AllUpstreamsFailed):
        await rig.run("pair")
    assert rig.health.state("alpha", "small") == rig.health.state("beta", "small") == "open"
    route = rig.route("pair")
    assert [a.target.channel for a in route.attempts] == ["alpha"]  # alpha's cooldown ends first
    assert any(n.reason.startswith("panic") for n in route.notes)
    rig.transport.script("alpha-small", answer("alpha-small", False, "back"))
    result = await rig.run("pair")
    assert b"back" in await drain(result)
    assert rig.health.state("alpha", "small") == "closed"


async def test_a_connection_reset_after_the_finish_is_a_clean_end(rig: Rig) -> None:
    finished = openai_wire.stream_frames(["one ", "two"], "alpha-small", done=False)  # finish chunk, no [DONE]
    rig.transport.script("alpha-small", Sse(finished, cut=True))
    result = await rig.run("pair", stream=True)
    body = await drain(result)
    assert result.outcome.error is None and body.endswith(openai_wire.DONE)
    assert [r.ended for r in rig.records] == ["ok"]
