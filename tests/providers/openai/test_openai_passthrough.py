"""Same-format forwarding: only model rewritten, usage metered, unknown fields kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from engine.canonical import Usage
from engine.errors import UpstreamError
from engine.sse import SSEParser
from providers.base import Endpoint
from providers.openai.passthrough import (
    PassthroughStream,
    build_passthrough,
    client_wants_usage,
    rewrite_response,
)


def relay(raw: bytes, wants_usage: bool, step: int | None = None) -> tuple[bytes, PassthroughStream]:
    stream = PassthroughStream("my-gpt", wants_usage)
    size = step or len(raw)
    out = b"".join(stream.feed(raw[i : i + size]) for i in range(0, len(raw), size))
    stream.close()
    return out, stream


def datas(raw: bytes) -> list[str]:
    return [e.data for e in SSEParser().feed(raw)]


def test_build_keeps_unknown_fields_and_forces_usage(endpoint: Endpoint) -> None:
    body: dict[str, Any] = {
        "model": "my-gpt",
        "messages": [{"role": "user", "content": "hi", "name": "bob"}],
        "n": 3,
        "logprobs": True,
        "vendor_extension": {"x": 1},
        "stream": True,
        "stream_options": {"include_obfuscation": False},
    }
    ep = endpoint._replace(params={"service_tier": "flex"}, headers={"x-channel": "a"})
    upstream = build_passthrough(body, ep)
    sent = orjson.loads(upstream.body)
    assert sent == {
        **body,
        "model": "gpt-4o-2024-08-06",
        "service_tier": "flex",
        "stream_options": {"include_obfuscation": False, "include_usage": True},
    }
    assert body["model"] == "my-gpt" and body["stream_options"] == {"include_obfuscation": False}  # not mutated
    assert upstream.url == "https://api.openai.com/v1/chat/completions"
    assert upstream.headers["authorization"] == "Bearer sk-test-secret-key-0123456789"
    assert upstream.headers["x-channel"] == "a"


def test_build_non_stream_leaves_stream_options_alone(endpoint: Endpoint) -> None:
    sent = orjson.loads(build_passthrough({"model": "m", "messages": []}, endpoint).body)
    assert "stream_options" not in sent


def test_client_wants_usage() -> None:
    assert client_wants_usage({"stream_options": {"include_usage": True}})
    assert not client_wants_usage({"stream_options": {"include_usage": False}})
    assert not client_wants_usage({})


def test_rewrite_response(fixture_bytes: Callable[[str], bytes]) -> None:
    raw = fixture_bytes("2026-chat-completion.json")
    out, usage = rewrite_response(raw, "my-gpt")
    original, rewritten = orjson.loads(raw), orjson.loads(out)
    assert rewritten == {**original, "model": "my-gpt"}
    assert usage == Usage(input_tokens=16, output_tokens=363)


@pytest.mark.parametrize(
    ("raw", "failure"), [(b"not json", "server"), (b'{"error": {"message": "x", "type": "server_error"}}', "server")]
)
def test_rewrite_response_errors(raw: bytes, failure: str) -> None:
    with pytest.raises(UpstreamError) as info:
        rewrite_response(raw, "m")
    assert info.value.failure == failure


def test_stream_with_usage_is_the_original_with_model_rewritten(recording: Callable[[str], bytes]) -> None:
    raw = recording("2026-text.chunks.txt")
    out, stream = relay(raw, wants_usage=True)
    theirs, ours = datas(raw), datas(out)
    assert len(ours) == len(theirs) and ours[-1] == "[DONE]"
    for a, b in zip(theirs[:-1], ours[:-1], strict=True):
        assert orjson.loads(b) == {**orjson.loads(a), "model": "my-gpt"}  # obfuscation etc. survive
    assert stream.finished
    assert stream.usage == Usage(input_tokens=16, output_tokens=300)


def test_stream_without_usage_swallows_the_usage_chunk(recording: Callable[[str], bytes]) -> None:
    raw = recording("2026-text.chunks.txt")
    out, stream = relay(raw, wants_usage=False, step=333)
    ours = datas(out)
    assert len(ours) == len(datas(raw)) - 1
    chunks = [orjson.loads(d) for d in ours[:-1]]
    assert all(c["choices"] and "usage" not in c for c in chunks)
    assert ours[-1] == "[DONE]"
    assert stream.usage == Usage(input_tokens=16, output_tokens=300)  # still metered


def test_recorded_2024_stream_without_usage_null_fields(recording: Callable[[str], bytes]) -> None:
    raw = recording("08-single-tool-call.sse")
    out, stream = relay(raw, wants_usage=False, step=1)
    assert len(datas(out)) == len(datas(raw)) - 1
    assert stream.usage == Usage(input_tokens=76, output_tokens=24)


def test_missing_done_after_the_finish_is_written_at_close(recording: Callable[[str], bytes]) -> None:
    stream = PassthroughStream("m", True)
    out = stream.feed(recording("01-plain-text.sse").replace(b"data: [DONE]\n\n", b""))
    assert out and not stream.finished
    assert stream.close() == b"data: [DONE]\n\n"
    assert stream.finished


def test_in_band_error_raises() -> None:
    stream = PassthroughStream("m", True)
    with pytest.raises(UpstreamError) as info:
        stream.feed(
            b'data: {"error": {"message": "Internal error", "type": "server_error", "param": null, "code": null}}\n\n'
        )
    assert info.value.failure == "server"
    assert info.value.message == "Internal error"


def test_non_json_chunk_is_skipped_and_counted() -> None:
    stream = PassthroughStream("m", True)
    assert stream.feed(b"data: {nope\n\n") == b""
    assert stream.malformed_events == 1


def test_partial_frames_are_held_back() -> None:
    stream = PassthroughStream("m", False)
    frame = b'data: {"id":"c","model":"up","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    assert stream.feed(frame[:20]) == b""
    assert (
        stream.feed(frame[20:]) == b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    )
