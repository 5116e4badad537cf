"""Upstream chat.completion.chunk SSE -> canonical events, on the real recordings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    PartStart,
    PartStop,
    RefusalDelta,
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
from providers.base import Endpoint
from providers.openai.adapter import OpenAIChatAdapter

adapter = OpenAIChatAdapter()
SNAPSHOTTED = [
    "01-plain-text.sse",
    "02-json-schema-response-format.sse",
    "04-max-tokens-length.sse",
    "05-refusal.sse",
    "08-single-tool-call.sse",
    "10-strict-tool-call.sse",
    "12-non-strict-tool-call.sse",
]
ALL = [*SNAPSHOTTED, "2026-text.chunks.txt"]


def decode(raw: bytes, endpoint: Endpoint, step: int | None = None) -> list[StreamEvent]:
    decoder = adapter.stream_decoder(endpoint)
    events: list[StreamEvent] = []
    size = step or len(raw)
    for start in range(0, len(raw), size):
        events.extend(decoder.feed(raw[start : start + size]))
    events.extend(decoder.close())
    return events


def frames(*chunks: dict[str, Any], done: bool = True) -> bytes:
    out = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
    return out + (b"data: [DONE]\n\n" if done else b"")


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m-1", "choices": choices, **extra}


def assert_well_formed(events: list[StreamEvent]) -> None:
    """The canonical contract: StreamStart, parts 0,1,2.. each Start -> deltas -> Stop, one StreamEnd."""
    assert isinstance(events[0], StreamStart)
    assert isinstance(events[-1], StreamEnd)
    assert sum(isinstance(e, StreamEnd | StreamStart) for e in events) == 2
    open_parts: set[int] = set()
    seen = 0
    for event in events[1:-1]:
        if isinstance(event, PartStart):
            assert event.index == seen
            seen += 1
            open_parts.add(event.index)
        elif isinstance(event, PartStop):
            open_parts.remove(event.index)
        else:
            assert getattr(event, "index") in open_parts  # noqa: B009 - the union has no common index
    assert not open_parts


def raw_content(raw: bytes, key: str) -> str:
    text = ""
    for line in raw.split(b"\n"):
        if line.startswith(b"data: {"):
            for choice in orjson.loads(line[6:])["choices"]:
                text += choice["delta"].get(key) or ""
    return text


@pytest.mark.parametrize("name", SNAPSHOTTED)
def test_recorded_streams(
    name: str, endpoint: Endpoint, recording: Callable[[str], bytes], snapshot: SnapshotAssertion
) -> None:
    events = decode(recording(name), endpoint)
    assert_well_formed(events)
    assert [repr(e) for e in events] == snapshot


@pytest.mark.parametrize("name", ALL)
def test_recorded_text_and_usage_survive(name: str, endpoint: Endpoint, recording: Callable[[str], bytes]) -> None:
    raw = recording(name)
    events = decode(raw, endpoint)
    assert_well_formed(events)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == raw_content(raw, "content")
    assert "".join(e.text for e in events if isinstance(e, RefusalDelta)) == raw_content(raw, "refusal")
    last = orjson.loads(raw.rstrip().split(b"\n\n")[-2][6:])
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.usage.input_tokens == last["usage"]["prompt_tokens"]
    assert end.usage.output_tokens == last["usage"]["completion_tokens"]


@pytest.mark.parametrize("step", [1, 7, 100])
def test_byte_splits_do_not_matter(step: int, endpoint: Endpoint, recording: Callable[[str], bytes]) -> None:
    raw = recording("08-single-tool-call.sse")
    assert decode(raw, endpoint, step) == decode(raw, endpoint)


def test_recorded_tool_call_arguments(endpoint: Endpoint, recording: Callable[[str], bytes]) -> None:
    events = decode(recording("08-single-tool-call.sse"), endpoint)
    start = events[1]
    assert start == PartStart(0, ToolCall("call_c91SqDXlYFuETYv8mUHzz6pp", "GetWeatherArgs", ""))
    args = "".join(e.fragment for e in events if isinstance(e, ToolArgsDelta))
    assert orjson.loads(args) == {"city": "Edinburgh", "country": "UK", "units": "c"}
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason == "tool_use"


def test_recorded_refusal_and_length(endpoint: Endpoint, recording: Callable[[str], bytes]) -> None:
    refusal = decode(recording("05-refusal.sse"), endpoint)[-1]
    length = decode(recording("04-max-tokens-length.sse"), endpoint)[-1]
    assert isinstance(refusal, StreamEnd) and refusal.stop_reason == "refusal"
    assert isinstance(length, StreamEnd) and length.stop_reason == "length"


def test_several_choices_fail(endpoint: Endpoint, recording: Callable[[str], bytes]) -> None:
    with pytest.raises(UpstreamError, match="several choices") as info:
        decode(recording("03-n3-multiple-choices.sse"), endpoint)
    assert info.value.failure == "server"


def test_missing_done_after_the_finish_is_complete(endpoint: Endpoint, recording: Callable[[str], bytes]) -> None:
    raw = recording("01-plain-text.sse")
    assert decode(raw.replace(b"data: [DONE]\n\n", b""), endpoint) == decode(raw, endpoint)


def test_missing_finish_is_a_cut(endpoint: Endpoint) -> None:
    with pytest.raises(UpstreamError) as info:
        decode(frames(chunk({"role": "assistant", "content": "Hi"}), done=False), endpoint)
    assert info.value.failure == "stream_cut"
    assert info.value.status == 502


def test_cut_mid_event(endpoint: Endpoint, recording: Callable[[str], bytes]) -> None:
    raw = recording("01-plain-text.sse")
    with pytest.raises(UpstreamError) as info:
        decode(raw[: len(raw) // 2], endpoint)
    assert info.value.failure == "stream_cut"


def test_in_band_error_chunk_raises_classified(endpoint: Endpoint) -> None:
    raw = frames(
        chunk({"role": "assistant", "content": ""}),
        {"error": {"message": "Rate limit reached", "type": "tokens", "param": None, "code": "rate_limit_exceeded"}},
        done=False,
    )
    decoder = adapter.stream_decoder(endpoint)
    with pytest.raises(UpstreamError) as info:
        decoder.feed(raw)
    assert info.value.failure == "rate_limit"
    assert info.value.message == "Rate limit reached"


def test_non_json_chunk_is_skipped_and_counted(endpoint: Endpoint) -> None:
    decoder = adapter.stream_decoder(endpoint)
    assert decoder.feed(b"data: {oops\n\n") == []
    assert decoder.malformed_events == 1


def test_reasoning_then_text_with_usage_on_finish_chunk(endpoint: Endpoint) -> None:
    """DeepSeek-style reasoning_content; usage on the finish chunk, as some servers send it."""
    raw = frames(
        chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
        chunk({"reasoning_content": "Let me"}),
        chunk({"reasoning_content": " think."}),
        chunk({"content": "Answer"}),
        chunk(
            {},
            "stop",
            usage={"prompt_tokens": 9, "completion_tokens": 4, "completion_tokens_details": {"reasoning_tokens": 3}},
        ),
    )
    assert decode(raw, endpoint) == [
        StreamStart("c1", "m-1", 5),
        PartStart(0, Thinking("")),
        ThinkingDelta(0, "Let me"),
        ThinkingDelta(0, " think."),
        PartStop(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "Answer"),
        PartStop(1),
        StreamEnd("end", Usage(input_tokens=9, output_tokens=4, reasoning_tokens=3)),
    ]


def test_parallel_tool_calls(endpoint: Endpoint) -> None:
    """Text, then two calls: one streamed in fragments, one whole in a single delta."""
    raw = frames(
        chunk({"role": "assistant", "content": "On it."}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}}
                ]
            }
        ),
        chunk({}, "tool_calls"),
        chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 2}),
    )
    events = decode(raw, endpoint)
    assert_well_formed(events)
    assert events[1:] == [
        PartStart(0, TextPart("")),
        TextDelta(0, "On it."),
        PartStop(0),
        PartStart(1, ToolCall("call_a", "f", "")),
        ToolArgsDelta(1, '{"x":'),
        ToolArgsDelta(1, "1}"),
        PartStop(1),
        PartStart(2, ToolCall("call_b", "g", "")),
        ToolArgsDelta(2, "{}"),
        PartStop(2),
        StreamEnd("tool_use", Usage(input_tokens=3, output_tokens=2)),
    ]


def test_arguments_for_a_finished_call_are_rejected(endpoint: Endpoint) -> None:
    raw = frames(
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
    )
    with pytest.raises(UpstreamError, match="after a later part began"):
        decode(raw, endpoint)


def test_stream_without_usage_ends_with_zero_usage(endpoint: Endpoint) -> None:
    events = decode(frames(chunk({"content": "hi"}), chunk({}, "stop")), endpoint)
    assert events[-1] == StreamEnd("end", Usage())


def test_nothing_after_done_is_decoded(endpoint: Endpoint) -> None:
    raw = frames(chunk({"content": "hi"}), chunk({}, "stop")) + frames(chunk({"content": "late"}), done=False)
    events = decode(raw, endpoint)
    assert not any(isinstance(e, TextDelta) and e.text == "late" for e in events)


def test_cached_prompt_tokens_reach_the_stream_end(endpoint: Endpoint) -> None:
    """Cached tokens are billed at the cached price, so the usage chunk's cached part must
    survive (OpenAI's ``prompt_tokens_details.cached_tokens``, DeepSeek's cache-hit count)."""
    openai_usage = {"prompt_tokens": 900, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 768}}
    deepseek_usage = {"prompt_tokens": 900, "completion_tokens": 7, "prompt_cache_hit_tokens": 512}
    for usage, cached in ((openai_usage, 768), (deepseek_usage, 512)):
        events = decode(frames(chunk({"content": "hi"}), chunk({}, "stop"), chunk(None, usage=usage)), endpoint)
        assert events[-1] == StreamEnd("end", Usage(input_tokens=900, output_tokens=7, cached_input_tokens=cached))
