"""The executor on streams: the first-byte deadline (real asyncio timers, tiny timeouts),
the commit at the first client-visible bytes, and failures after it, which end the stream
with the client format's in-band error instead of a retry or a fallback."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.errors import UpstreamError
from engine.policy.compiled import CompiledPolicy
from engine.routing.execute import Streaming
from tests.support import anthropic_wire, openai_wire
from tests.support.executor_rig import Rig, answer, drain, load
from tests.support.scripted_transport import Hang, Reply, Sse

OPENAI_HEAD = openai_wire.stream_frames(["one ", "two"], "alpha-small", done=False)[:3]  # role, "one ", "two"
ANTHROPIC_HEAD = anthropic_wire.stream_frames(["one ", "two"], "claude-haiku", stop=False)
SERVER_ERROR_CHUNK = openai_wire.data_frame(
    openai_wire.error_body("The server had an error while processing your request.", "server_error")
)
OVERLOADED_EVENT = anthropic_wire.error_frame("overloaded_error", "Overloaded")
QUIET = openai_wire.stream_frames(["one ", "two"], "quiet-tiny")  # role, one, two, finish, [DONE]
OPENAI_ERROR = Sse([*OPENAI_HEAD, SERVER_ERROR_CHUNK])
OPENAI_CUT = Sse(OPENAI_HEAD, cut=True)  # the connection drops
OPENAI_NO_DONE = Sse(OPENAI_HEAD)  # a clean end of the body, before [DONE]
ANTHROPIC_ERROR = Sse([*ANTHROPIC_HEAD, OVERLOADED_EVENT])
ANTHROPIC_CUT = Sse(ANTHROPIC_HEAD, cut=True)
QUIET_SILENT = Sse(QUIET, delay_s=[0, 0, 0, 1.0, 0])  # the finish chunk comes after idle (0.02 s)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    return load(tmp_path_factory.mktemp("policy"))


@pytest.fixture
def rig(policy: CompiledPolicy) -> Rig:
    return Rig(policy)


def last_event(body: bytes) -> tuple[str | None, Any]:
    """The name and the parsed data of the last SSE event in ``body``."""
    block = [b for b in body.split(b"\n\n") if b.strip()][-1]
    name, data = None, b""
    for line in block.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip().decode()
        elif line.startswith(b"data:"):
            data += line[5:].strip()
    return name, orjson.loads(data)


# -- the first-token deadline ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Hang(), id="headers-then-silence"),
        pytest.param(Sse(OPENAI_HEAD, delay_s=[0.5, 0, 0]), id="first-frame-too-late"),
    ],
)
async def test_no_first_token_in_time_moves_on_at_once_without_asking_again(rig: Rig, reply: Reply) -> None:
    """Headers alone are not a token: a candidate silent past ``first_token`` is abandoned and
    the next one starts at once, with no retry and no backoff."""
    rig.transport.always("alpha-small", reply)
    rig.transport.script("beta-small", answer("beta-small", True))
    result = await rig.run("smart", stream=True)
    await drain(result)
    assert rig.transport.models() == ["alpha-small", "beta-small"]
    assert rig.tried() == ["timeout", "ok"]
    assert [r.ended for r in rig.records] == ["first_token_timeout", "ok"]
    assert rig.records[0].message == "no first token within 0.05s"
    assert all(r.closed for r in rig.transport.requests_for("alpha-small"))  # the hung upstream was let go
    assert rig.clock.slept == []  # no backoff
    assert rig.health.view("alpha", "small").in_flight == 0


async def test_the_first_token_deadline_ends_at_the_first_token(rig: Rig) -> None:
    """Frames after the first token may come slower than the first-token deadline (0.05 s)."""
    frames = openai_wire.stream_frames(["one ", "two"], "alpha-small")
    rig.transport.script("alpha-small", Sse(frames, delay_s=[0, 0, 0.06, 0.06, 0]))
    result = await rig.run("smart", stream=True)
    body = await drain(result)
    assert body.endswith(openai_wire.DONE)
    assert result.outcome.error is None
    assert rig.tried() == ["ok"]


# -- failures once the first byte was relayed --------------------------------------------------


@pytest.mark.parametrize(
    ("route", "client", "upstream", "reply", "failure"),
    [
        pytest.param("smart", "openai", "alpha-small", OPENAI_ERROR, "server", id="openai-error-chunk"),
        pytest.param("smart", "openai", "alpha-small", OPENAI_CUT, "stream_cut", id="openai-connection-cut"),
        pytest.param("smart", "openai", "alpha-small", OPENAI_NO_DONE, "stream_cut", id="openai-ends-before-done"),
        pytest.param("smart", "anthropic", "alpha-small", OPENAI_ERROR, "server", id="openai-to-anthropic-client"),
        pytest.param("poly", "anthropic", "claude-haiku", ANTHROPIC_ERROR, "server", id="anthropic-error-event"),
        pytest.param("poly", "openai", "claude-haiku", ANTHROPIC_CUT, "stream_cut", id="anthropic-to-openai-client"),
        pytest.param("hushed", "openai", "quiet-tiny", QUIET_SILENT, "timeout", id="silent-past-idle"),
    ],
)
async def test_a_failure_after_the_first_byte_ends_the_stream_with_the_clients_in_band_error(
    rig: Rig, route: str, client: str, upstream: str, reply: Reply, failure: str
) -> None:
    rig.transport.script(upstream, reply)
    result = await rig.run(route, client, stream=True)
    assert isinstance(result, Streaming)
    body = await drain(result)
    assert b"two" in body  # what came before the failure was relayed
    name, data = last_event(body)
    if client == "openai":
        assert name is None and set(data) == {"error"}
        assert {"message", "type", "param", "code"} <= set(data["error"])
        assert openai_wire.DONE not in body
    else:
        assert name == "error" and data["type"] == "error" and data["error"]["message"]
        assert b"event: message_stop" not in body
    error = result.outcome.error
    assert isinstance(error, UpstreamError) and error.failure == failure
    assert rig.transport.models() == [upstream]  # neither retried nor fallen back
    assert [(r.number, r.failure) for r in rig.records] == [(1, failure)]
    assert result.outcome.attempts_made == 1
    channel, model = result.outcome.attempt.target.channel, result.outcome.attempt.target.model
    view = rig.health.view(channel, model)
    assert view.error_rate > 0 and view.in_flight == 0  # counted against the pair


@pytest.mark.parametrize(
    ("route", "upstream", "first", "fallback"),
    [
        pytest.param("smart", "alpha-small", SERVER_ERROR_CHUNK, "beta-small", id="openai-error-chunk"),
        pytest.param("poly", "claude-haiku", OVERLOADED_EVENT, "claude-sonnet", id="anthropic-overloaded-event"),
    ],
)
async def test_an_in_band_error_before_the_first_byte_falls_back_without_a_retry(
    rig: Rig, route: str, upstream: str, first: bytes, fallback: str
) -> None:
    """An in-band error has no HTTP status of the retry list (Anthropic's overloaded is
    read as 529), so it is not retried; nothing reached the client, so it falls back."""
    rig.transport.always(upstream, Sse([first]))
    rig.transport.script(fallback, answer(fallback, True))
    result = await rig.run(route, stream=True)
    body = await drain(result)
    assert result.outcome.error is None and b"pong" in body
    assert rig.transport.models() == [upstream, fallback]
    assert rig.tried() == ["server", "ok"]
    assert rig.transport.requests[0].closed  # the failed upstream response was let go


# -- the pair's in-flight count and a client that leaves -----------------------------------------


async def test_a_committed_stream_holds_its_pair_in_flight_until_it_ends(rig: Rig) -> None:
    rig.transport.script("alpha-small", answer("alpha-small", True))
    result = await rig.run("smart", stream=True)
    assert rig.health.view("alpha", "small").in_flight == 1
    assert rig.health.channel_in_flight("alpha") == 1
    await drain(result)
    assert rig.health.view("alpha", "small").in_flight == 0
    assert rig.health.view("alpha", "small").p50_ms is not None  # the success was recorded


async def test_a_client_leaving_mid_stream_closes_the_upstream_and_records_the_attempt_as_served(rig: Rig) -> None:
    frames = openai_wire.stream_frames([f"word{i} " for i in range(20)], "alpha-small")
    rig.transport.script("alpha-small", Sse(frames))
    result = await rig.run("smart", stream=True)
    assert isinstance(result, Streaming)
    await anext(result.rest)
    await result.rest.aclose()
    [upstream] = rig.transport.requests
    assert upstream.closed
    assert result.finished and result.outcome.error is None
    assert [(r.status, r.failure) for r in rig.records] == [(200, None)]
    view = rig.health.view("alpha", "small")
    assert view.in_flight == 0 and view.error_rate == 0 and view.p50_ms is None  # neither success nor failure
