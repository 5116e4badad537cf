"""The fake upstream itself: default echo server, scripts, misbehaviours, recordings."""

from __future__ import annotations

import socket

import httpx
import orjson
import pytest

from engine.sse import SSEParser
from tests.support import openai_wire
from tests.support.fake_upstream import FakeUpstream
from tests.support.replies import Cut, Hang, Json, Reset, Status, Stream


def _chat(model: str, text: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def _events(raw: bytes) -> list[str]:
    return [event.data for event in SSEParser().feed(raw)]


def test_default_reply_echoes_the_last_user_message(fake_upstream: FakeUpstream) -> None:
    body = {
        "model": "m1",
        "messages": [{"role": "user", "content": "first"}, {"role": "user", "content": "hello there"}],
    }
    response = httpx.post(f"{fake_upstream.base_url}/chat/completions", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "m1"
    assert data["choices"][0]["message"]["content"] == "hello there"
    [received] = fake_upstream.requests
    assert (received.method, received.path, received.model) == ("POST", "/v1/chat/completions", "m1")
    assert received.json == body
    assert received.finished_at is not None and not received.disconnected


def test_default_stream_sends_usage_only_when_asked(fake_upstream: FakeUpstream) -> None:
    url = f"{fake_upstream.base_url}/chat/completions"
    plain = _events(httpx.post(url, json=_chat("m", "a b c", stream=True)).content)
    with_usage = _events(
        httpx.post(url, json=_chat("m", "a b c", stream=True, stream_options={"include_usage": True})).content
    )
    assert plain[-1] == with_usage[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in plain[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "a b c"
    assert all("usage" not in c for c in chunks)
    usage_chunk = orjson.loads(with_usage[-2])
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


def test_scripts_are_per_model_then_default_queue_then_always(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("a", Status(500), Json(200, {"n": 1}))
    fake_upstream.script(None, Json(200, {"n": "default"}))
    fake_upstream.always("b", Status(503))
    url = f"{fake_upstream.base_url}/chat/completions"
    got = [httpx.post(url, json=_chat(m, "x")) for m in ("a", "b", "a", "a", "b")]
    assert [r.status_code for r in got] == [500, 200, 200, 200, 503]
    assert got[1].json() == {"n": "default"}
    assert got[2].json() == {"n": 1}
    assert got[3].json()["choices"][0]["message"]["content"] == "x"
    assert got[0].json()["error"]["type"] == "server_error"
    assert [r.reply for r in fake_upstream.requests] == ["Status", "Json", "Json", "default", "Status"]
    assert fake_upstream.pending() == 0


def test_status_carries_headers_and_a_custom_body(fake_upstream: FakeUpstream) -> None:
    body = openai_wire.error_body("slow down", "rate_limit_error", code="rate_limit_exceeded")
    fake_upstream.script(None, Status(429, body, {"Retry-After": "2"}))
    response = httpx.post(f"{fake_upstream.base_url}/chat/completions", json=_chat("m", "x"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json() == body


def test_model_is_taken_from_gemini_style_paths(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("gemini-x", Json(200, {"ok": True}))
    response = httpx.post(f"{fake_upstream.base_url}/models/gemini-x:streamGenerateContent?alt=sse", json={})
    assert response.json() == {"ok": True}
    [received] = fake_upstream.requests
    assert received.model == "gemini-x"
    assert received.query == {"alt": "sse"}


def test_stream_replays_recorded_frames(fake_upstream: FakeUpstream) -> None:
    frames = openai_wire.recorded_frames("plain-text.sse")
    fake_upstream.script(None, Stream(frames))
    response = httpx.post(f"{fake_upstream.base_url}/chat/completions", json=_chat("m", "x", stream=True))
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b"".join(frames)
    assert _events(response.content)[-1] == "[DONE]"
    assert fake_upstream.requests[0].frames_sent == len(frames)


def test_cut_sends_frames_then_breaks_the_chunked_body(fake_upstream: FakeUpstream) -> None:
    frames = openai_wire.stream_frames(["one ", "two"], "m", done=False)[:2]
    fake_upstream.script(None, Cut(frames))
    got = b""
    with (
        httpx.Client() as client,
        client.stream(
            "POST", f"{fake_upstream.base_url}/chat/completions", json=_chat("m", "x", stream=True)
        ) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_raw():
                got += chunk
    assert got == b"".join(frames)


def test_hang_never_answers_and_records_the_client_leaving(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(None, Hang(30))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fake_upstream.base_url}/chat/completions", json=_chat("m", "x"), timeout=0.2)
    [received] = fake_upstream.requests
    assert received.done.wait(5)
    assert received.disconnected and received.finished_at is None


def test_reset_closes_without_a_response(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(None, Reset())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.post(f"{fake_upstream.base_url}/chat/completions", json=_chat("m", "x"))
    assert len(fake_upstream.requests) == 1


def test_client_disconnect_mid_stream_is_recorded_before_the_stream_ends(fake_upstream: FakeUpstream) -> None:
    frames = openai_wire.stream_frames([f"w{i} " for i in range(100)], "m")
    fake_upstream.script(None, Stream(frames, delay_s=0.05))
    with (
        httpx.Client() as client,
        client.stream(
            "POST", f"{fake_upstream.base_url}/chat/completions", json=_chat("m", "x", stream=True)
        ) as response,
    ):
        next(response.iter_raw())
    [received] = fake_upstream.requests
    assert received.done.wait(5)
    assert received.disconnected
    assert received.finished_at is None
    assert received.frames_sent < len(frames)


def test_wait_for_and_reset(fake_upstream: FakeUpstream) -> None:
    with pytest.raises(AssertionError, match="got 0 requests, expected 1"):
        fake_upstream.wait_for(1, timeout=0.05)
    fake_upstream.script("m", Status(500))
    httpx.post(f"{fake_upstream.base_url}/chat/completions", json=_chat("z", "x"))
    assert len(fake_upstream.wait_for(1)) == 1
    fake_upstream.reset()
    assert fake_upstream.requests == []
    assert httpx.post(f"{fake_upstream.base_url}/chat/completions", json=_chat("m", "x")).status_code == 200


def test_stop_releases_the_port() -> None:
    fake = FakeUpstream().start()
    port = fake.port
    fake.stop()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
