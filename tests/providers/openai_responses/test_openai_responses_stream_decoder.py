"""Upstream Responses streams (the real recordings) decoded into canonical events."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    Part,
    PartStart,
    Refusal,
    SignatureDelta,
    StreamEnd,
    StreamEvent,
    TextPart,
    Thinking,
    ThinkingDelta,
    ToolCall,
)
from engine.errors import UpstreamError
from providers.openai_responses.response_decoder import response_from_object
from providers.openai_responses.stream_decoder import ResponsesStreamDecoder
from tests.providers.openai_responses.checks import (
    assemble,
    assert_canonical_order,
    decode_stream,
    event_dicts,
)
from tests.providers.openai_responses.recordings import recorded_streams, sse

STREAMS = recorded_streams()
SUCCESSFUL = [name for name in STREAMS if name.startswith(("openai-phase", "openai-reasoning"))]
FAILING = {
    "openai-error.1": ("rate_limit", "insufficient_quota"),
    "openai-custom-tool.1": ("bad_request", "custom_tool_call"),
    "openai-image-generation-tool.1": ("bad_request", "image_generation_call"),
}


def test_every_recording_is_covered() -> None:
    assert sorted(STREAMS) == sorted([*SUCCESSFUL, *FAILING])
    assert len(SUCCESSFUL) == 5  # the phase stream and the four reasoning/tool turns


@pytest.mark.parametrize("name", SUCCESSFUL)
def test_recorded_stream_decodes(name: str, snapshot: SnapshotAssertion) -> None:
    events = decode_stream(sse(STREAMS[name]))
    assert_canonical_order(events)
    assert event_dicts(events) == snapshot


@pytest.mark.parametrize("name", SUCCESSFUL)
def test_stream_matches_its_final_response(name: str) -> None:
    """What the deltas add up to equals the output of the stream's own
    ``response.completed`` object, decoded as a non-streamed response. (The API
    re-encrypts reasoning for every copy of an item, so signatures are compared by
    presence only.)"""
    payloads = STREAMS[name]
    final = response_from_object(payloads[-1]["response"])
    events = decode_stream(sse(payloads))
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert _unsigned(assemble(events)) == _unsigned(final.parts)
    assert (end.stop_reason, end.usage) == (final.stop_reason, final.usage)


def _unsigned(parts: list[Part]) -> list[Part]:
    return [Thinking(p.text, "signed" if p.signature else None) if isinstance(p, Thinking) else p for p in parts]


@pytest.mark.parametrize("name", SUCCESSFUL)
def test_byte_at_a_time_gives_the_same_events(name: str) -> None:
    raw = sse(STREAMS[name])
    assert decode_stream(raw, chunk_size=1) == decode_stream(raw)


def test_reasoning_turn_carries_encrypted_content_as_signature() -> None:
    payloads = STREAMS["openai-reasoning-encrypted-content.1"]
    events = decode_stream(sse(payloads))
    done_item = next(p["item"] for p in payloads if p["type"] == "response.output_item.done")
    signatures = [e for e in events if isinstance(e, SignatureDelta)]
    # the final encrypted_content, not the (possibly partial) one from output_item.added
    assert [s.signature for s in signatures] == [done_item["encrypted_content"]]
    thinking, call = assemble(events)
    assert isinstance(thinking, Thinking) and thinking.text.startswith("**Calculating step-by-step")
    assert isinstance(call, ToolCall) and call.arguments == '{"a":12,"b":7,"op":"add"}'
    assert call.id == "call_AB6AaRZ1FYZB2RwS6A5vbdqn"


def test_phase_stream_with_gap_in_output_indexes_gives_two_text_parts() -> None:
    events = decode_stream(sse(STREAMS["openai-phase.1"]))
    parts = assemble(events)
    assert [type(p) for p in parts] == [TextPart, TextPart]
    assert isinstance(parts[1], TextPart) and parts[1].text.startswith("Here are a few **AI headlines")


@pytest.mark.parametrize("name", sorted(FAILING))
def test_failing_recordings_raise_classified_errors(name: str, snapshot: SnapshotAssertion) -> None:
    failure, needle = FAILING[name]
    decoder = ResponsesStreamDecoder()
    with pytest.raises(UpstreamError) as info:
        decoder.feed(sse(STREAMS[name]))
    assert info.value.failure == failure
    assert needle in info.value.message
    assert (info.value.failure, info.value.status, info.value.message) == snapshot


def test_stream_cut_before_completed_is_an_error() -> None:
    payloads = STREAMS["openai-phase.1"][:-1]
    decoder = ResponsesStreamDecoder()
    events = decoder.feed(sse(payloads))
    assert not any(isinstance(e, StreamEnd) for e in events)
    with pytest.raises(UpstreamError) as info:
        decoder.close()
    assert info.value.failure == "stream_cut"


def test_stream_cut_mid_event_is_an_error() -> None:
    raw = sse(STREAMS["openai-phase.1"])
    decoder = ResponsesStreamDecoder()
    decoder.feed(raw[: len(raw) - 40])
    with pytest.raises(UpstreamError) as info:
        decoder.close()
    assert info.value.failure == "stream_cut"


# ---- synthetic shapes the recordings do not show --------------------------------------

_CREATED: dict[str, Any] = {
    "type": "response.created",
    "response": {
        "id": "resp_x",
        "object": "response",
        "created_at": 5,
        "model": "m",
        "status": "in_progress",
        "output": [],
    },
}


def _completed(status: str = "completed", **extra: Any) -> dict[str, Any]:
    usage = {
        "input_tokens": 10,
        "output_tokens": 4,
        "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 1},
    }
    return {"type": f"response.{status}", "response": {"id": "resp_x", "status": status, "usage": usage, **extra}}


def _decode(payloads: list[dict[str, Any]]) -> list[StreamEvent]:
    events = decode_stream(sse(payloads))
    assert_canonical_order(events)
    return events


def test_summary_parts_are_joined_by_a_blank_line() -> None:
    rs = {"type": "reasoning", "id": "rs_1", "summary": []}
    events = _decode(
        [
            _CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": rs},
            {"type": "response.reasoning_summary_part.added", "output_index": 0, "summary_index": 0},
            {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 0, "delta": "One."},
            {"type": "response.reasoning_summary_part.added", "output_index": 0, "summary_index": 1},
            {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 1, "delta": "Two."},
            {"type": "response.output_item.done", "output_index": 0, "item": {**rs, "encrypted_content": "enc"}},
            _completed(),
        ]
    )
    assert assemble(events) == [Thinking("One.\n\nTwo.", signature="enc")]


def test_text_only_in_done_events_is_still_emitted() -> None:
    """A proxy that sends no deltas: the item's final content is the text."""
    msg = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed"}
    fc = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": ""}
    events = _decode(
        [
            _CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": {**msg, "content": []}},
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": {**msg, "content": [{"type": "output_text", "text": "hello", "annotations": []}]},
            },
            {"type": "response.output_item.added", "output_index": 1, "item": fc},
            {"type": "response.output_item.done", "output_index": 1, "item": {**fc, "arguments": '{"x":1}'}},
            _completed(),
        ]
    )
    assert assemble(events) == [TextPart("hello"), ToolCall("c1", "f", '{"x":1}')]
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason == "tool_use"
    assert (end.usage.input_tokens, end.usage.cached_input_tokens, end.usage.cache_write_tokens) == (10, 2, 1)


def test_incomplete_response_is_length() -> None:
    events = _decode([_CREATED, _completed("incomplete", incomplete_details={"reason": "max_output_tokens"})])
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason == "length"


def test_refusal_stream() -> None:
    msg = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}
    events = _decode(
        [
            _CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": msg},
            {
                "type": "response.content_part.added",
                "output_index": 0,
                "content_index": 0,
                "part": {"type": "refusal", "refusal": ""},
            },
            {"type": "response.refusal.delta", "output_index": 0, "content_index": 0, "delta": "I can't"},
            {"type": "response.refusal.done", "output_index": 0, "content_index": 0, "refusal": "I can't help."},
            {"type": "response.content_part.done", "output_index": 0, "content_index": 0, "part": {}},
            _completed(),
        ]
    )
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason == "refusal"
    assert assemble(events) == [Refusal("I can't help.")]


def test_hosted_tool_trace_items_are_skipped() -> None:
    ws = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    events = _decode(
        [
            _CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": ws},
            {"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_1"},
            {"type": "response.output_item.done", "output_index": 0, "item": ws},
            _completed(),
        ]
    )
    assert not any(isinstance(e, PartStart) for e in events)


def test_spec_shaped_error_event_is_classified() -> None:
    error = {"type": "error", "code": "context_length_exceeded", "message": "too long", "param": None}
    with pytest.raises(UpstreamError) as info:
        ResponsesStreamDecoder().feed(sse([_CREATED, error]))
    assert info.value.failure == "context_length" and info.value.status == 400


def test_malformed_event_is_skipped_and_counted() -> None:
    decoder = ResponsesStreamDecoder()
    assert decoder.feed(b"event: response.created\ndata: {not json\n\n") == []
    assert decoder.malformed_events == 1


def test_reasoning_without_text_or_state_is_not_a_part() -> None:
    rs = {"type": "reasoning", "id": "rs_1", "summary": []}
    events = _decode(
        [
            _CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": rs},
            {"type": "response.output_item.done", "output_index": 0, "item": rs},
            _completed(),
        ]
    )
    assert not any(isinstance(e, (PartStart, ThinkingDelta)) for e in events)


def test_content_before_response_created_is_malformed() -> None:
    keepalive = {"type": "keepalive"}
    delta = {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "hi", "item_id": "m"}
    decoder = ResponsesStreamDecoder()
    assert decoder.feed(sse([keepalive])) == []  # events carrying nothing are fine
    with pytest.raises(UpstreamError) as info:
        decoder.feed(sse([delta]))
    assert info.value.failure == "server" and "output before response.created" in info.value.message
