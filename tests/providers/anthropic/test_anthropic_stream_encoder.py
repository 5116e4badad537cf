"""Canonical events -> Anthropic SSE, judged by the official SDK's types and stream reader."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from engine.canonical import (
    ChatRequest,
    PartStart,
    PartStop,
    Refusal,
    RefusalDelta,
    SignatureDelta,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    Usage,
)
from engine.errors import GatewayError, UpstreamError
from providers.anthropic.codec import AnthropicCodec
from tests.providers.anthropic._anthropic_fixtures import (
    STREAM_EVENT,
    STREAMS,
    decode_stream,
    sdk_message,
    sse_payloads,
    stream_bytes,
)

REQUEST = ChatRequest(model="claude-x", messages=[], stream=True, include_usage=True)
START = StreamStart(id="msg_1", model="claude-x", created=1)
END = StreamEnd("end", Usage(input_tokens=10, output_tokens=3))


def encode(events: list[StreamEvent]) -> bytes:
    encoder = AnthropicCodec().stream_encoder(REQUEST)
    return b"".join(encoder.encode(event) for event in events)


def _validate_sequence(data: bytes) -> list[dict[str, Any]]:
    """Every frame is a valid SDK event whose SSE name equals its type; one block open at
    a time, indices contiguous from 0."""
    payloads = []
    open_block: int | None = None
    next_block = 0
    for name, payload in sse_payloads(data):
        assert name == payload["type"]
        if payload["type"] not in ("ping", "error"):
            STREAM_EVENT.validate_python(payload)
        if payload["type"] == "content_block_start":
            assert open_block is None and payload["index"] == next_block
            open_block, next_block = payload["index"], next_block + 1
        elif payload["type"] in ("content_block_delta", "content_block_stop"):
            assert payload["index"] == open_block
            if payload["type"] == "content_block_stop":
                open_block = None
        payloads.append(payload)
    assert open_block is None
    return payloads


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_recorded_streams_round_trip_through_canonical(name: str) -> None:
    canonical = decode_stream(stream_bytes(name))
    encoded = encode(canonical)
    _validate_sequence(encoded)
    assert decode_stream(encoded) == canonical
    message = sdk_message(encoded)
    text = "".join(e.text for e in canonical if isinstance(e, TextDelta))
    assert "".join(b.text for b in message.content if b.type == "text") == text


def test_text_stream_has_the_real_api_event_sequence(snapshot: Any) -> None:
    encoded = encode(decode_stream(stream_bytes("recorded-2026/anthropic-text.chunks.txt")))
    types = [p["type"] for p in _validate_sequence(encoded)]
    assert types[:3] == ["message_start", "content_block_start", "ping"]
    assert types[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert encoded.decode() == snapshot


def test_usage_arrives_in_message_delta_with_cache_fields_split_out() -> None:
    usage = Usage(
        input_tokens=1500, output_tokens=40, cached_input_tokens=1000, cache_write_tokens=300, reasoning_tokens=12
    )
    payloads = _validate_sequence(encode([START, StreamEnd("end", usage)]))
    assert payloads[0]["message"]["usage"]["input_tokens"] == 0
    assert payloads[-2]["usage"] == {
        "input_tokens": 200,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 1000,
        "output_tokens": 40,
        "output_tokens_details": {"thinking_tokens": 12},
    }
    message = sdk_message(encode([START, StreamEnd("end", usage)]))
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (200, 1000)


def test_interleaved_canonical_parts_become_contiguous_blocks() -> None:
    events: list[StreamEvent] = [
        START,
        PartStart(0, TextPart("")),
        PartStart(1, ToolCall("call_1", "lookup", "")),
        TextDelta(0, "Hel"),
        ToolArgsDelta(1, '{"q": '),
        PartStart(2, ToolCall("call_2", "fetch", "")),
        TextDelta(0, "lo"),
        ToolArgsDelta(2, '{"url": "https://x"}'),
        ToolArgsDelta(1, '"cats"}'),
        PartStop(2),
        PartStop(0),
        ToolArgsDelta(1, ""),
        PartStop(1),
        StreamEnd("tool_use", Usage(input_tokens=5, output_tokens=9)),
    ]
    encoded = encode(events)
    payloads = _validate_sequence(encoded)
    starts = [p["content_block"] for p in payloads if p["type"] == "content_block_start"]
    assert [s["type"] for s in starts] == ["text", "tool_use", "tool_use"]
    assert [s.get("id") for s in starts] == [None, "toolu_tr_call_1", "toolu_tr_call_2"]
    message = sdk_message(encoded)
    assert message.content[0].type == "text" and message.content[0].text == "Hello"
    assert [b.input for b in message.content if b.type == "tool_use"] == [{"q": "cats"}, {"url": "https://x"}]
    assert message.stop_reason == "tool_use"


def test_a_buffered_part_still_open_goes_live_when_the_open_one_stops() -> None:
    events: list[StreamEvent] = [
        START,
        PartStart(0, Thinking("")),
        PartStart(1, TextPart("")),
        TextDelta(1, "A"),
        ThinkingDelta(0, "hmm"),
        SignatureDelta(0, "sig"),
        PartStop(0),
        TextDelta(1, "B"),
        StreamEnd("end", Usage()),
    ]
    encoded = encode(events)
    payloads = _validate_sequence(encoded)
    text_deltas = [
        p["delta"]["text"]
        for p in payloads
        if p["type"] == "content_block_delta" and p["delta"]["type"] == "text_delta"
    ]
    assert text_deltas == ["A", "B"]  # the buffered "A" is written on start, then "B" live
    message = sdk_message(encoded)
    assert message.content[0].type == "thinking"
    assert (message.content[0].thinking, message.content[0].signature) == ("hmm", "sig")
    assert message.content[1].type == "text" and message.content[1].text == "AB"


def test_parts_that_start_with_content_and_refusals() -> None:
    events: list[StreamEvent] = [
        START,
        PartStart(0, Refusal("I can")),
        RefusalDelta(0, "not help."),
        PartStop(0),
        PartStart(1, ToolCall("call_9", "f", '{"a":1}')),
        PartStop(1),
        PartStart(2, Thinking("", redacted="opaque")),
        PartStop(2),
        StreamEnd("content_filter", Usage()),
    ]
    message = sdk_message(encode(events))
    assert [b.type for b in message.content] == ["text", "tool_use", "redacted_thinking"]
    assert message.content[0].type == "text" and message.content[0].text == "I cannot help."
    assert message.content[1].type == "tool_use" and message.content[1].input == {"a": 1}
    assert message.stop_reason == "refusal"


def test_an_empty_refusal_pings_before_message_delta_like_the_recording() -> None:
    payloads = _validate_sequence(encode([START, StreamEnd("refusal", Usage(input_tokens=18, output_tokens=5))]))
    assert [p["type"] for p in payloads] == ["message_start", "ping", "message_delta", "message_stop"]


def test_stream_end_closes_parts_left_open() -> None:
    events: list[StreamEvent] = [START, PartStart(0, TextPart("")), PartStart(1, TextPart("")), TextDelta(1, "x"), END]
    payloads = _validate_sequence(encode(events))
    assert sum(p["type"] == "content_block_stop" for p in payloads) == 2


def test_delta_for_an_unknown_part_is_a_pipeline_bug() -> None:
    encoder = AnthropicCodec().stream_encoder(REQUEST)
    encoder.encode(START)
    with pytest.raises(ValueError, match="not open"):
        encoder.encode(TextDelta(3, "x"))


def test_error_frame_and_nothing_after_it() -> None:
    encoder = AnthropicCodec().stream_encoder(REQUEST)
    encoder.encode(START)
    frame = encoder.error(UpstreamError("server", "upstream overloaded"))
    assert (
        frame
        == b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream overloaded"}}\n\n'
    )
    assert encoder.encode(END) == b""


def _sdk_stream(data: bytes) -> anthropic.types.Message:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=data)

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        client = anthropic.Anthropic(api_key="test", base_url="http://gateway.test", http_client=http)
        with client.messages.stream(
            model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            return stream.get_final_message()


def test_the_sdk_client_reads_our_stream_end_to_end() -> None:
    canonical = decode_stream(stream_bytes("sdk-fixtures/tool_use_response.sse"))
    message = _sdk_stream(encode(canonical))
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].type == "tool_use" and message.content[1].input == {"location": "Paris"}
    assert (message.usage.input_tokens, message.usage.output_tokens) == (377, 65)


def test_the_sdk_client_raises_on_our_error_frame() -> None:
    encoder = AnthropicCodec().stream_encoder(REQUEST)
    data = encoder.encode(START) + encoder.error(GatewayError("Overloaded", status=529, kind="overloaded"))
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        _sdk_stream(data)
