"""Anthropic SSE -> canonical events, on every recorded and SDK stream."""

from __future__ import annotations

from typing import Any

import pytest

from engine.canonical import (
    PartStart,
    PartStop,
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
from engine.errors import UpstreamError
from providers.anthropic.stream_decoder import AnthropicStreamDecoder
from tests.providers.anthropic._anthropic_fixtures import (
    STREAMS,
    as_data,
    decode_stream,
    fixed_clock,
    stream_bytes,
)


def _sse(*payloads: str) -> bytes:
    return b"".join(b"data: " + p.encode() + b"\n\n" for p in payloads)


START = '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":300,"output_tokens":1}}}'
STOP = '{"type":"message_stop"}'


def _assert_well_formed(events: list[StreamEvent]) -> None:
    assert isinstance(events[0], StreamStart)
    assert isinstance(events[-1], StreamEnd)
    assert sum(isinstance(e, StreamEnd) for e in events) == 1
    started = [e.index for e in events if isinstance(e, PartStart)]
    stopped = [e.index for e in events if isinstance(e, PartStop)]
    assert started == list(range(len(started)))
    assert sorted(stopped) == started
    for event in events:
        if isinstance(event, (TextDelta, ToolArgsDelta, ThinkingDelta, SignatureDelta)):
            assert event.index in started


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_fixture_decodes_to_a_well_formed_stream(name: str, snapshot: Any) -> None:
    events = decode_stream(stream_bytes(name))
    _assert_well_formed(events)
    assert as_data(events) == snapshot


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_byte_splits_do_not_change_the_events(name: str) -> None:
    data = stream_bytes(name)
    assert decode_stream(data, chunk_size=7) == decode_stream(data)


def test_tool_use_stream_reassembles_the_arguments() -> None:
    events = decode_stream(stream_bytes("sdk-fixtures/tool_use_response.sse"))
    starts = [e for e in events if isinstance(e, PartStart)]
    assert starts[1].part == ToolCall(id="toolu_01NRLabsLyVHZPKxbKvkfSMn", name="get_weather", arguments="")
    args = "".join(e.fragment for e in events if isinstance(e, ToolArgsDelta) and e.index == 1)
    assert args == '{"location": "Paris"}'
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason == "tool_use"
    assert end.usage == Usage(input_tokens=377, output_tokens=65)


def test_a_tool_call_cut_by_max_tokens_is_closed_at_message_stop() -> None:
    events = decode_stream(stream_bytes("sdk-fixtures/incomplete_partial_json_response.sse"))
    assert events[-2:] == [PartStop(1), StreamEnd("length", Usage(input_tokens=450, output_tokens=124))]


def test_thinking_and_signature_become_thinking_events() -> None:
    events = decode_stream(stream_bytes("sdk-fixtures/fable-fallback/stream-a-refusal.sse"))
    assert PartStart(0, Thinking(text="")) in events
    thought = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thought.startswith("Simple educational question")
    signatures = [e for e in events if isinstance(e, SignatureDelta)]
    assert signatures == [SignatureDelta(0, "c3ludGhldGljLXNpZ25hdHVyZS1maXh0dXJlLWEtbm90LWEtcmVhbC1zaWduYXR1cmU=")]
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason == "refusal"
    assert end.usage.reasoning_tokens == 67


def test_server_tool_blocks_are_skipped_and_indices_stay_contiguous() -> None:
    events = decode_stream(stream_bytes("recorded-2026/anthropic-web-search-tool.1.chunks.txt"))
    parts = [e.part for e in events if isinstance(e, PartStart)]
    assert parts and all(isinstance(part, TextPart) for part in parts)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.startswith("Based on my search results, here are the key tech news")


def test_fallback_marker_block_is_skipped() -> None:
    events = decode_stream(stream_bytes("recorded-2026/anthropic-fallback.chunks.txt"))
    assert [e for e in events if isinstance(e, PartStart)] == [PartStart(0, TextPart(""))]
    assert events[0] == StreamStart(
        id="msg_01FallbackStreamAbcdefghij", model="claude-fable-5", created=int(fixed_clock())
    )


def test_usage_adds_cache_reads_and_writes_to_input() -> None:
    delta = (
        '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":42}}'
    )
    events = decode_stream(_sse(START, delta, STOP))
    assert events[-1] == StreamEnd(
        "end", Usage(input_tokens=330, output_tokens=42, cached_input_tokens=300, cache_write_tokens=20)
    )


def test_message_delta_totals_overwrite_the_start_values() -> None:
    delta = '{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"input_tokens":11,"cache_read_input_tokens":0,"output_tokens":5}}'
    end = decode_stream(_sse(START, delta, STOP))[-1]
    assert end == StreamEnd(
        "stop_sequence",
        Usage(input_tokens=31, output_tokens=5, cached_input_tokens=0, cache_write_tokens=20),
        stop_sequence="END",
    )


def test_overloaded_error_event_raises_a_retryable_server_failure() -> None:
    error = 'event: error\ndata: {"type":"error","error":{"details":null,"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}\n\n'
    decoder = AnthropicStreamDecoder(fixed_clock)
    decoder.feed(_sse(START))
    with pytest.raises(UpstreamError) as caught:
        decoder.feed(error.encode())
    assert caught.value.failure == "server"
    assert caught.value.upstream_status == 529
    assert "Overloaded" in caught.value.message


def test_invalid_request_error_event_about_prompt_length_is_context_length() -> None:
    error = '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}'
    with pytest.raises(UpstreamError) as caught:
        decode_stream(_sse(START, error))
    assert caught.value.failure == "context_length"


def test_stream_without_message_stop_is_cut() -> None:
    text = '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
    decoder = AnthropicStreamDecoder(fixed_clock)
    assert len(decoder.feed(_sse(START, text))) == 2
    with pytest.raises(UpstreamError) as caught:
        decoder.close()
    assert caught.value.failure == "stream_cut"


def test_stream_cut_inside_the_last_event_is_cut() -> None:
    decoder = AnthropicStreamDecoder(fixed_clock)
    decoder.feed(_sse(START) + b'data: {"type":"message_st')
    with pytest.raises(UpstreamError) as caught:
        decoder.close()
    assert caught.value.failure == "stream_cut"


def test_a_final_event_without_its_blank_line_still_counts() -> None:
    data = _sse(START) + b"data: " + STOP.encode()
    events = decode_stream(data)
    assert isinstance(events[-1], StreamEnd)


def test_malformed_json_mid_stream_is_skipped_and_counted() -> None:
    decoder = AnthropicStreamDecoder(fixed_clock)
    events = decoder.feed(_sse(START, "{not json", STOP)) + decoder.close()
    assert events == decode_stream(_sse(START, STOP))
    assert decoder.malformed_events == 1


def test_redacted_thinking_block_becomes_a_redacted_part() -> None:
    block = '{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy"}}'
    events = decode_stream(_sse(START, block, '{"type":"content_block_stop","index":0}', STOP))
    assert events[1:3] == [PartStart(0, Thinking(text="", redacted="EmwKAhgBEgy")), PartStop(0)]
