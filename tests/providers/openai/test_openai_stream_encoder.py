"""Canonical events -> chat.completion.chunk frames, checked against the official SDK."""

from __future__ import annotations

import orjson
from openai.types.chat import ChatCompletionChunk
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    ChatRequest,
    Message,
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
from engine.errors import UpstreamError
from engine.sse import SSEParser
from providers.openai.codec import OpenAIChatCodec

codec = OpenAIChatCodec()

EVENTS: list[StreamEvent] = [
    StreamStart("chatcmpl-9", "public-model", 1700000000),
    PartStart(0, Thinking("")),
    ThinkingDelta(0, "hmm"),
    SignatureDelta(0, "sig"),
    PartStop(0),
    PartStart(1, TextPart("")),
    TextDelta(1, "Let me "),
    TextDelta(1, "check."),
    PartStop(1),
    PartStart(2, ToolCall("call_a", "weather", "")),
    ToolArgsDelta(2, '{"city":'),
    ToolArgsDelta(2, '"Paris"}'),
    PartStop(2),
    PartStart(3, ToolCall("call_b", "time", "")),
    ToolArgsDelta(3, "{}"),
    PartStop(3),
    StreamEnd("tool_use", Usage(input_tokens=20, output_tokens=9, cached_input_tokens=4, reasoning_tokens=2)),
]


def request(include_usage: bool) -> ChatRequest:
    return ChatRequest(
        model="public-model", messages=[Message("user", [TextPart("x")])], stream=True, include_usage=include_usage
    )


def encode_all(events: list[StreamEvent], include_usage: bool) -> bytes:
    encoder = codec.stream_encoder(request(include_usage))
    return b"".join(encoder.encode(e) for e in events)


def payloads(raw: bytes) -> list[str]:
    return [e.data for e in SSEParser().feed(raw)]


def test_stream_with_usage_matches_openai_shape(snapshot: SnapshotAssertion) -> None:
    raw = encode_all(EVENTS, include_usage=True)
    assert raw.startswith(b"data: {") and raw.endswith(b"}\n\ndata: [DONE]\n\n")
    datas = payloads(raw)
    assert datas[-1] == "[DONE]"
    assert [d if d == "[DONE]" else orjson.loads(d) for d in datas] == snapshot
    chunks = [orjson.loads(d) for d in datas[:-1]]
    sdk = [ChatCompletionChunk.model_validate(c) for c in chunks]
    assert all(c.model == "public-model" and c.id == "chatcmpl-9" for c in sdk)
    first = chunks[0]["choices"][0]["delta"]
    assert first == {"role": "assistant", "content": "", "refusal": None}
    assert all("usage" in c and c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 20,
        "completion_tokens": 9,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    # tool calls are numbered 0, 1 in call order, not by canonical part index (2, 3)
    tool_deltas = [tc for c in sdk if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [(t.index, t.id, t.function.name if t.function else None) for t in tool_deltas] == [
        (0, "call_a", "weather"),
        (0, None, None),
        (0, None, None),
        (1, "call_b", "time"),
        (1, None, None),
    ]
    arguments = {0: "", 1: ""}
    for t in tool_deltas:
        arguments[t.index] += (t.function.arguments or "") if t.function else ""
    assert arguments == {0: '{"city":"Paris"}', 1: "{}"}
    text = "".join(c.choices[0].delta.content or "" for c in sdk if c.choices)
    assert text == "Let me check."
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"])
    assert reasoning == "hmm"


def test_stream_without_usage_has_no_usage_keys() -> None:
    datas = payloads(encode_all(EVENTS, include_usage=False))
    chunks = [orjson.loads(d) for d in datas[:-1]]
    assert datas[-1] == "[DONE]"
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_refusal_stream() -> None:
    events: list[StreamEvent] = [
        StreamStart("c", "m", 1),
        PartStart(0, Refusal("")),
        RefusalDelta(0, "I can't"),
        RefusalDelta(0, " help."),
        PartStop(0),
        StreamEnd("refusal", Usage()),
    ]
    chunks = [orjson.loads(d) for d in payloads(encode_all(events, include_usage=False))[:-1]]
    sdk = [ChatCompletionChunk.model_validate(c) for c in chunks]
    assert "".join(c.choices[0].delta.refusal or "" for c in sdk) == "I can't help."
    assert sdk[-1].choices[0].finish_reason == "stop"


def test_refusal_stop_without_refusal_text_is_content_filter() -> None:
    events: list[StreamEvent] = [
        StreamStart("c", "m", 1),
        PartStart(0, TextPart("")),
        TextDelta(0, "Sure, here is"),
        PartStop(0),
        StreamEnd("refusal", Usage()),
    ]
    chunks = [orjson.loads(d) for d in payloads(encode_all(events, include_usage=False))[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"


def test_part_start_with_text_is_sent() -> None:
    events: list[StreamEvent] = [StreamStart("c", "m", 1), PartStart(0, TextPart("Hi")), TextDelta(0, "")]
    chunks = [orjson.loads(d) for d in payloads(encode_all(events, include_usage=False))]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Hi"},
    ]


def test_error_frame_ends_the_stream_without_done() -> None:
    encoder = codec.stream_encoder(request(include_usage=True))
    head = encoder.encode(EVENTS[0]) + encoder.encode(PartStart(0, TextPart(""))) + encoder.encode(TextDelta(0, "par"))
    tail = encoder.error(UpstreamError("stream_cut", "upstream connection reset mid-response"))
    assert tail == (
        b'data: {"error":{"message":"upstream connection reset mid-response","type":"server_error",'
        b'"param":null,"code":"upstream_error"}}\n\n'
    )
    assert b"[DONE]" not in head + tail
    # anything after the error is swallowed: a cut must never look like a clean end
    assert encoder.encode(StreamEnd("end", Usage())) == b""
