"""Responses-to-Responses forwarding: only the model rewritten, everything else kept, usage metered."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.canonical import Usage
from engine.errors import UpstreamError
from engine.sse import SSEParser
from providers.base import Endpoint, Passthrough, PassthroughStream
from providers.openai_responses.passthrough import ResponsesPassthrough
from providers.openai_responses.stream_decoder import ResponsesStreamDecoder
from tests.providers.openai_responses.recordings import (
    load_bytes,
    recorded_streams,
    sse,
)

PASS = ResponsesPassthrough()
ENDPOINT = Endpoint(
    channel="openai-main",
    format="openai-responses",
    base_url="https://api.openai.com/v1",
    api_key="sk-test-key",
    upstream_model="gpt-5-2025-08-07",
)
STREAMS = recorded_streams()


def relay(raw: bytes, step: int) -> tuple[bytes, PassthroughStream]:
    stream = PASS.stream("my-gpt", False)
    out = b"".join(stream.feed(raw[i : i + step]) for i in range(0, len(raw), step))
    stream.close()
    return out, stream


def events(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    return [(e.event, orjson.loads(e.data)) for e in SSEParser().feed(raw)]


def with_public_model(payload: dict[str, Any]) -> dict[str, Any]:
    if isinstance(payload.get("response"), dict):
        return {**payload, "response": {**payload["response"], "model": "my-gpt"}}
    return payload


def test_satisfies_the_protocol() -> None:
    passthrough: Passthrough = PASS
    assert passthrough.format == "openai-responses"


def test_build_forwards_everything_but_the_model() -> None:
    body: dict[str, Any] = {
        "model": "my-gpt",
        "input": [
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "summarise"}, {"type": "input_file", "file_id": "file-abc"}],
            },
            {"type": "custom_tool_call_output", "call_id": "call_1", "output": "ok"},
        ],
        "tools": [
            {"type": "web_search", "search_context_size": "low"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "image_generation", "quality": "low"},
            {
                "type": "custom",
                "name": "code_exec",
                "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
            },
        ],
        "previous_response_id": "resp_123",
        "include": ["file_search_call.results", "reasoning.encrypted_content"],
        "store": True,
        "truncation": "auto",
        "temperature": 0.2,
        "stream": True,
        "a_future_field": {"nested": [1, 2]},
    }
    snapshot = orjson.dumps(body)
    ep = ENDPOINT._replace(params={"service_tier": "flex", "temperature": 1}, headers={"x-channel": "a"})
    upstream = PASS.build(body, ep, True, {"authorization": "Bearer client-key", "x-client": "c"})
    assert orjson.loads(upstream.body) == {
        **body,
        "model": "gpt-5-2025-08-07",
        "service_tier": "flex",
        "temperature": 1,
    }
    assert orjson.dumps(body) == snapshot  # the client's body is not mutated
    assert (upstream.method, upstream.url) == ("POST", "https://api.openai.com/v1/responses")
    assert upstream.headers["Authorization"] == "Bearer sk-test-key"
    assert upstream.headers["x-channel"] == "a"
    assert upstream.headers["Accept"] == "text/event-stream"
    assert "x-client" not in upstream.headers


def test_build_non_stream_without_key() -> None:
    upstream = PASS.build({"model": "m", "input": "hi"}, ENDPOINT._replace(api_key=None), False, {})
    assert orjson.loads(upstream.body) == {"model": "gpt-5-2025-08-07", "input": "hi"}
    assert "Authorization" not in upstream.headers and "Accept" not in upstream.headers


@pytest.mark.parametrize(
    ("name", "usage"),
    [
        (
            "openai-phase.1.json",
            Usage(input_tokens=7243, output_tokens=423, cached_input_tokens=3072, reasoning_tokens=58),
        ),
        ("openai-reasoning-encrypted-content.1.json", Usage(input_tokens=865, output_tokens=163, reasoning_tokens=128)),
        ("openai-custom-tool.1.json", Usage(input_tokens=50, output_tokens=20)),
        ("openai-image-generation-tool.1.json", Usage(input_tokens=3151, output_tokens=1970, reasoning_tokens=1920)),
    ],
)
def test_rewrite_response_changes_only_the_model(name: str, usage: Usage) -> None:
    raw = load_bytes(name)
    out, got = PASS.rewrite_response(raw, "my-gpt")
    assert orjson.loads(out) == {**orjson.loads(raw), "model": "my-gpt"}
    assert got == usage


@pytest.mark.parametrize(
    ("raw", "failure"),
    [
        (b"not json", "server"),
        (b"[1, 2]", "server"),
        (load_bytes("openai-error.1.json"), "rate_limit"),
        (
            b'{"id": "r", "status": "failed", "error": {"code": "context_length_exceeded", "message": "too long"}}',
            "context_length",
        ),
        (b'{"id": "r", "status": "completed", "usage": {"input_tokens": "many"}}', "server"),
    ],
)
def test_rewrite_response_errors(raw: bytes, failure: str) -> None:
    with pytest.raises(UpstreamError) as info:
        PASS.rewrite_response(raw, "m")
    assert info.value.failure == failure


@pytest.mark.parametrize(
    ("name", "usage"),
    [
        ("openai-phase.1", Usage(input_tokens=7112, output_tokens=463, cached_input_tokens=3072, reasoning_tokens=64)),
        (
            "openai-image-generation-tool.1",
            Usage(input_tokens=2941, output_tokens=1249, cached_input_tokens=1920, reasoning_tokens=1024),
        ),
        ("openai-reasoning-encrypted-content.1", Usage(input_tokens=134, output_tokens=28)),
        ("openai-custom-tool.1", Usage(input_tokens=50, output_tokens=20)),
    ],
)
def test_recorded_stream_is_relayed_with_only_the_model_changed(name: str, usage: Usage) -> None:
    payloads = STREAMS[name]
    out, stream = relay(sse(payloads), step=7)
    relayed = events(out)
    assert [e for e, _ in relayed] == [p["type"] for p in payloads]
    assert [p for _, p in relayed] == [with_public_model(p) for p in payloads]
    assert all(p["response"]["model"] == "my-gpt" for _, p in relayed if "response" in p)
    assert stream.usage == usage


def test_data_only_events_get_their_type_as_event_name_and_unknown_events_pass() -> None:
    payloads = [
        {"type": "response.created", "response": {"id": "r", "model": "up", "status": "in_progress"}},
        {"type": "response.some_future_event.delta", "delta": {"x": 1}, "model": "untouched"},
        {
            "type": "response.incomplete",
            "response": {
                "id": "r",
                "model": "up",
                "status": "incomplete",
                "usage": {"input_tokens": 3, "output_tokens": 4},
            },
        },
    ]
    raw = b": keep-alive\n\n" + b"".join(b"data: " + orjson.dumps(p) + b"\n\n" for p in payloads)
    out, stream = relay(raw, step=len(raw))
    assert events(out) == [(p["type"], with_public_model(p)) for p in payloads]
    assert stream.usage == Usage(input_tokens=3, output_tokens=4)


def test_events_after_the_terminal_event_are_dropped() -> None:
    payloads = STREAMS["openai-reasoning-encrypted-content.1"] + STREAMS["openai-reasoning-encrypted-content.1#2"]
    out, stream = relay(sse(payloads), step=4096)
    assert len(events(out)) == len(STREAMS["openai-reasoning-encrypted-content.1"])
    assert stream.usage == Usage(input_tokens=134, output_tokens=28)


def test_recorded_error_stream_raises_like_the_translated_decoder() -> None:
    raw = sse(STREAMS["openai-error.1"])
    stream = PASS.stream("my-gpt", True)
    with pytest.raises(UpstreamError) as ours:
        for i in range(0, len(raw), 7):
            stream.feed(raw[i : i + 7])
    with pytest.raises(UpstreamError) as theirs:
        ResponsesStreamDecoder().feed(raw)
    assert ours.value.failure == theirs.value.failure == "rate_limit"
    assert ours.value.message == theirs.value.message and "insufficient_quota" in ours.value.message


@pytest.mark.parametrize(
    ("payload", "failure"),
    [
        ({"type": "error", "code": "context_length_exceeded", "message": "too long"}, "context_length"),
        ({"type": "error", "error": {"code": "rate_limit_exceeded", "message": "slow"}}, "rate_limit"),
        ({"type": "error", "code": None, "message": "boom"}, "server"),
        (
            {
                "type": "response.failed",
                "response": {"id": "r", "status": "failed", "error": {"code": "invalid_prompt", "message": "no"}},
            },
            "content_filter",
        ),
        ({"type": "response.failed", "response": {"id": "r", "status": "failed", "error": None}}, "server"),
    ],
)
def test_in_band_failures_match_the_translated_decoder(payload: dict[str, Any], failure: str) -> None:
    created = {
        "type": "response.created",
        "response": {"id": "r", "model": "up", "status": "in_progress", "created_at": 1},
    }
    raw = sse([created, payload])
    with pytest.raises(UpstreamError) as ours:
        PASS.stream("m", False).feed(raw)
    with pytest.raises(UpstreamError) as theirs:
        ResponsesStreamDecoder().feed(raw)
    assert ours.value.failure == theirs.value.failure == failure
    assert ours.value.message == theirs.value.message


def test_stream_cut_before_the_terminal_event() -> None:
    payloads = STREAMS["openai-phase.1"]
    assert payloads[-1]["type"] == "response.completed"
    stream = PASS.stream("my-gpt", True)
    out = stream.feed(sse(payloads[:-1]))
    assert len(events(out)) == len(payloads) - 1
    assert stream.usage is None
    with pytest.raises(UpstreamError) as info:
        stream.close()
    assert info.value.failure == "stream_cut"


def test_terminal_event_without_its_blank_line_is_relayed_at_the_end() -> None:
    payloads = STREAMS["openai-custom-tool.1"]
    stream = PASS.stream("m", True)
    assert len(events(stream.feed(sse(payloads)[:-2]))) == len(payloads) - 1
    tail = events(stream.close())
    assert [kind for kind, _ in tail] == ["response.completed"] and stream.finished


def test_a_cut_inside_the_terminal_event_is_a_cut() -> None:
    payloads = STREAMS["openai-custom-tool.1"]
    stream = PASS.stream("m", True)
    stream.feed(sse(payloads)[:-40])
    with pytest.raises(UpstreamError) as info:
        stream.close()
    assert info.value.failure == "stream_cut"


@pytest.mark.parametrize("data", [b"data: {nope\n\n", b"data: [1]\n\n"])
def test_malformed_event_is_skipped_and_counted(data: bytes) -> None:
    stream = PASS.stream("m", True)
    assert stream.feed(data) == b""
    assert stream.malformed_events == 1


def test_partial_frames_are_held_back() -> None:
    stream = PASS.stream("m", True)
    raw = b'event: response.created\ndata: {"type":"response.created","response":{"id":"r","model":"up"}}\n\n'
    assert stream.feed(raw[:30]) == b""
    assert (
        stream.feed(raw[30:])
        == b'event: response.created\ndata: {"type":"response.created","response":{"id":"r","model":"m"}}\n\n'
    )
