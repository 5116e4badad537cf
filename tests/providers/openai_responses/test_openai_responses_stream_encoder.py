"""Canonical streams encoded as Responses SSE, every event checked with the SDK's types."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    ChatRequest,
    Message,
    Part,
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
    Tool,
    ToolArgsDelta,
    ToolCall,
    Usage,
)
from engine.errors import RateLimited, UpstreamError
from providers.openai_responses.codec import ResponsesCodec
from providers.openai_responses.stream_encoder import ResponsesStreamEncoder
from tests.providers.openai_responses.checks import (
    assemble,
    assert_canonical_order,
    decode_stream,
    validated_events,
)
from tests.providers.openai_responses.recordings import recorded_streams, sse

STREAMS = recorded_streams()
SUCCESSFUL = [name for name in STREAMS if name.startswith(("openai-phase", "openai-reasoning"))]
REQUEST = ChatRequest(
    model="gpt-5",
    messages=[Message("user", [TextPart("hi")])],
    system=[TextPart("be brief")],
    tools=[Tool("calculator", "adds", {"type": "object", "properties": {}}, strict=True)],
    stream=True,
    include_usage=True,
)
USAGE = Usage(input_tokens=20, output_tokens=9, cached_input_tokens=4, reasoning_tokens=3)


def _encode(events: list[StreamEvent], request: ChatRequest = REQUEST) -> bytes:
    encoder = ResponsesCodec().stream_encoder(request)
    return b"".join(encoder.encode(e) for e in events)


@pytest.mark.parametrize("name", SUCCESSFUL)
def test_recorded_streams_survive_decode_encode_decode(name: str) -> None:
    """Real upstream stream -> canonical -> our Responses SSE (SDK-valid) -> canonical:
    the same canonical events both times."""
    canonical = decode_stream(sse(STREAMS[name]))
    raw = _encode(canonical)
    validated_events(raw)
    assert decode_stream(raw) == canonical


def test_event_sequence_for_text_and_tool_call(snapshot: SnapshotAssertion) -> None:
    events: list[StreamEvent] = [
        StreamStart("resp_abc", "gpt-5", 1700000000),
        PartStart(0, TextPart("")),
        TextDelta(0, "Let me "),
        TextDelta(0, "add."),
        PartStop(0),
        PartStart(1, ToolCall("call_1", "calculator", "")),
        ToolArgsDelta(1, '{"a":'),
        ToolArgsDelta(1, "1}"),
        PartStop(1),
        StreamEnd("tool_use", USAGE),
    ]
    payloads = validated_events(_encode(events))
    assert [p["type"] for p in payloads] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = payloads[-1]["response"]
    assert final["status"] == "completed"
    assert final["usage"] == {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 29,
    }
    assert [item["type"] for item in final["output"]] == ["message", "function_call"]
    assert payloads == snapshot


def test_reasoning_part_becomes_a_summarised_reasoning_item() -> None:
    events: list[StreamEvent] = [
        StreamStart("resp_r", "o3", 1),
        PartStart(0, Thinking("")),
        ThinkingDelta(0, "Think"),
        ThinkingDelta(0, "ing."),
        SignatureDelta(0, "gAAAA-sig"),
        PartStop(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "42"),
        PartStop(1),
        StreamEnd("end", USAGE),
    ]
    payloads = validated_events(_encode(events))
    types = [p["type"] for p in payloads]
    assert types[2:9] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    item = payloads[8]["item"]
    assert item["summary"] == [{"type": "summary_text", "text": "Thinking."}]
    assert item["encrypted_content"] == "gAAAA-sig"
    assert item["id"].startswith("rs_")


def test_refusal_part_streams_refusal_events() -> None:
    events: list[StreamEvent] = [
        StreamStart("resp_f", "gpt-5", 1),
        PartStart(0, Refusal("")),
        RefusalDelta(0, "No."),
        PartStop(0),
        StreamEnd("refusal", USAGE),
    ]
    payloads = validated_events(_encode(events))
    assert "response.refusal.delta" in [p["type"] for p in payloads]
    assert payloads[-1]["response"]["output"][0]["content"] == [{"type": "refusal", "refusal": "No."}]


@pytest.mark.parametrize(
    ("stop", "kind", "reason"),
    [
        ("length", "response.incomplete", "max_output_tokens"),
        ("content_filter", "response.incomplete", "content_filter"),
        ("end", "response.completed", None),
    ],
)
def test_terminal_event_follows_stop_reason(stop: Any, kind: str, reason: str | None) -> None:
    events: list[StreamEvent] = [
        StreamStart("resp_l", "gpt-5", 1),
        PartStart(0, TextPart("")),
        TextDelta(0, "a"),
        PartStop(0),
        StreamEnd(stop, USAGE),
    ]
    final = validated_events(_encode(events))[-1]
    assert final["type"] == kind
    details = final["response"]["incomplete_details"]
    assert (details or {}).get("reason") == reason


def test_interleaved_parts_are_serialised_into_whole_items() -> None:
    """Text and two tool calls whose deltas interleave (as Gemini/OpenAI-chat upstreams
    can produce) come out as three complete, consecutive items."""
    events: list[StreamEvent] = [
        StreamStart("resp_i", "gpt-5", 1),
        PartStart(0, TextPart("")),
        PartStart(1, ToolCall("c1", "f", "")),
        ToolArgsDelta(1, '{"x":'),
        TextDelta(0, "Hello"),
        PartStart(2, ToolCall("c2", "g", "")),
        ToolArgsDelta(2, "{}"),
        PartStop(2),
        ToolArgsDelta(1, "1}"),
        TextDelta(0, " world"),
        PartStop(1),
        PartStop(0),
        StreamEnd("tool_use", USAGE),
    ]
    payloads = validated_events(_encode(events))
    indexes = [p["output_index"] for p in payloads if "output_index" in p]
    assert indexes == sorted(indexes), "an item's events must not interleave with another's"
    output = payloads[-1]["response"]["output"]
    assert [(i["type"], i.get("arguments")) for i in output] == [
        ("message", None),
        ("function_call", '{"x":1}'),
        ("function_call", "{}"),
    ]
    assert output[0]["content"][0]["text"] == "Hello world"
    redecoded = decode_stream(_encode(events))
    assert assemble(redecoded) == [TextPart("Hello world"), ToolCall("c1", "f", '{"x":1}'), ToolCall("c2", "g", "{}")]


def test_error_mid_stream_emits_error_then_failed() -> None:
    encoder = ResponsesStreamEncoder(REQUEST)
    started: list[StreamEvent] = [StreamStart("resp_e", "gpt-5", 1), PartStart(0, TextPart("")), TextDelta(0, "par")]
    raw = b"".join(encoder.encode(e) for e in started)
    raw += encoder.error(UpstreamError("server", "upstream error server_error: boom"))
    payloads = validated_events(raw)
    error, failed = payloads[-2:]
    assert error["type"] == "error"
    assert (error["code"], error["message"]) == ("upstream_error", "upstream error server_error: boom")
    assert error["error"]["type"] == "server_error"  # the nested shape the API was recorded sending
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["code"] == "server_error"


def test_rate_limit_error_maps_to_allowed_failed_code() -> None:
    encoder = ResponsesStreamEncoder(REQUEST)
    raw = encoder.encode(StreamStart("resp_e", "gpt-5", 1)) + encoder.error(RateLimited("too many requests"))
    failed = validated_events(raw)[-1]
    assert failed["response"]["error"] == {"code": "rate_limit_exceeded", "message": "too many requests"}


def test_error_before_start_sends_only_the_error_event() -> None:
    payloads = validated_events(ResponsesStreamEncoder(REQUEST).error(RateLimited("too many requests")))
    assert [p["type"] for p in payloads] == ["error"]
    assert payloads[0]["code"] == "rate_limit_exceeded"


# ---- property: any legal interleaving serialises into valid, faithful items ----------

_PART_KINDS = st.sampled_from(["text", "tool", "thinking", "refusal"])
_CHUNKS = st.lists(st.text(alphabet='ab {}"é\n', min_size=1, max_size=4), max_size=4)


def _part(kind: str, n: int) -> TextPart | ToolCall | Thinking | Refusal:
    if kind == "tool":
        return ToolCall(f"call_{n}", f"fn{n}", "")
    if kind == "thinking":
        return Thinking("")
    return Refusal("") if kind == "refusal" else TextPart("")


def _delta(kind: str, n: int, chunk: str) -> StreamEvent:
    if kind == "tool":
        return ToolArgsDelta(n, chunk)
    if kind == "thinking":
        return ThinkingDelta(n, chunk)
    return RefusalDelta(n, chunk) if kind == "refusal" else TextDelta(n, chunk)


@st.composite
def _interleaved(draw: st.DrawFn) -> tuple[list[StreamEvent], list[Part]]:
    specs = draw(st.lists(st.tuples(_PART_KINDS, _CHUNKS), min_size=1, max_size=4))
    queues: list[list[StreamEvent]] = []
    expected: list[Part] = []
    for n, (kind, chunks) in enumerate(specs):
        queues.append([PartStart(n, _part(kind, n)), *(_delta(kind, n, c) for c in chunks), PartStop(n)])
        whole = "".join(chunks)
        part = _part(kind, n)
        if isinstance(part, ToolCall):
            part.arguments = whole
        else:
            part.text = whole
        expected.append(part)
    events: list[StreamEvent] = [StreamStart("resp_p", "m", 1)]
    started = 0
    while any(queues):
        # parts start in index order; otherwise any open queue may go next
        choices = [i for i, q in enumerate(queues) if q and (i < started or i == started)]
        i = draw(st.sampled_from(choices))
        event = queues[i].pop(0)
        if isinstance(event, PartStart):
            started += 1
        events.append(event)
    events.append(StreamEnd("end", USAGE))
    return events, expected


@settings(max_examples=60, deadline=None, database=None)
@given(_interleaved())
def test_any_interleaving_serialises_validly(case: tuple[list[StreamEvent], list[Part]]) -> None:
    events, expected = case
    assert_canonical_order(events)
    raw = _encode(events)
    payloads = validated_events(raw)
    indexes = [p["output_index"] for p in payloads if "output_index" in p]
    assert indexes == sorted(indexes)
    redecoded = assemble(decode_stream(raw))
    # a thinking part with no text and no signature carries nothing and is dropped
    assert redecoded == [p for p in expected if not (isinstance(p, Thinking) and not p.text)]
