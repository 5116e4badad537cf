"""Failures once a stream has started: an upstream cut ends the client's stream with an
in-band error and no ``[DONE]``; a client leaving closes the upstream stream."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.support import openai_wire
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Cut, Stream
from tests.support.wire_checks import sse_data, sse_json

STREAM_BODY = {"model": "smart", "messages": [{"role": "user", "content": "tell me"}], "stream": True}


def cut_after_two_pieces() -> Cut:
    # role chunk + "one " + "two", then the connection drops: no finish chunk, no [DONE]
    frames = openai_wire.stream_frames(["one ", "two"], "upstream-small", done=False)[:3]
    return Cut(frames, delay_s=0.1)


def test_sdk_stream_raises_on_a_mid_stream_cut(client: openai.OpenAI, fake_a: FakeUpstream) -> None:
    fake_a.script("upstream-small", cut_after_two_pieces())
    stream = client.chat.completions.create(
        model="smart", messages=[{"role": "user", "content": "tell me"}], stream=True
    )
    text = ""
    with pytest.raises(openai.APIError):
        for chunk in stream:
            text += "".join(choice.delta.content or "" for choice in chunk.choices)
    assert text == "one two"
    assert len(fake_a.requests) == 1  # bytes reached the client: no retry


def test_raw_stream_ends_with_an_in_band_error_and_no_done(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    fake_a.script("upstream-small", cut_after_two_pieces())
    response = httpx.post(f"{core_gateway.base_url}/v1/chat/completions", json=STREAM_BODY, timeout=30)
    assert response.status_code == 200
    assert b"[DONE]" not in response.content
    events = sse_json(response.content)
    *chunks, last = events
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c.get("choices")) == "one two"
    assert set(last) == {"error"}
    assert {"message", "type", "param", "code"} <= set(last["error"])
    assert last["error"]["message"]
    assert all("error" not in c for c in chunks)
    assert sse_data(response.content)[-1] != "[DONE]"
    assert fake_b.requests == []


def test_client_disconnect_closes_the_upstream_stream(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    frames = openai_wire.stream_frames([f"word{i} " for i in range(60)], "upstream-small")
    fake_a.script("upstream-small", Stream(frames, delay_s=0.1))  # about 6 s to send it all
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", f"{core_gateway.base_url}/v1/chat/completions", json=STREAM_BODY) as response,
    ):
        assert response.status_code == 200
        received = b""
        for chunk in response.iter_raw():
            received += chunk
            if b"word1" in received:
                break
    [upstream] = fake_a.requests
    assert upstream.done.wait(5), "the upstream stream was still open 5 s after the client left"
    assert upstream.disconnected
    assert upstream.finished_at is None
    assert upstream.frames_sent < len(frames)  # closed before the stream would have finished
