"""Assertions shared by the Responses tests: SDK validation of what the gateway emits,
the canonical stream-order contract, and reassembling a canonical stream into parts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from engine.canonical import (
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
    ToolArgsDelta,
    ToolCall,
)
from engine.sse import SSEParser
from providers.openai_responses.stream_decoder import ResponsesStreamDecoder

STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def validated_events(raw: bytes) -> list[dict[str, Any]]:
    """Parse the gateway's SSE output; every event must have ``event:`` equal to its
    ``type``, a ``sequence_number`` counting up from 0, and validate against the SDK's
    ``ResponseStreamEvent`` (which validates the embedded ``Response`` objects too)."""
    parsed = SSEParser().feed(raw)
    events: list[dict[str, Any]] = []
    for n, sse in enumerate(parsed):
        payload = orjson.loads(sse.data)
        assert sse.event == payload["type"], (sse.event, payload["type"])
        assert payload["sequence_number"] == n, (n, payload)
        STREAM_EVENT.validate_python(payload)
        if "response" in payload:
            Response.model_validate(payload["response"])
        events.append(payload)
    return events


def decode_stream(raw: bytes, chunk_size: int | None = None) -> list[StreamEvent]:
    decoder = ResponsesStreamDecoder()
    events: list[StreamEvent] = []
    step = chunk_size or len(raw) or 1
    for start in range(0, len(raw), step):
        events.extend(decoder.feed(raw[start : start + step]))
    events.extend(decoder.close())
    return events


def assert_canonical_order(events: list[StreamEvent]) -> None:
    """StreamStart, then per part PartStart -> deltas -> PartStop (indices 0, 1, 2... in
    order of first appearance), then exactly one StreamEnd, last."""
    assert isinstance(events[0], StreamStart), events[0]
    assert isinstance(events[-1], StreamEnd), events[-1]
    assert sum(isinstance(e, (StreamStart, StreamEnd)) for e in events) == 2
    open_parts: set[int] = set()
    started = 0
    for event in events[1:-1]:
        if isinstance(event, PartStart):
            assert event.index == started, (event.index, started)
            open_parts.add(event.index)
            started += 1
        elif isinstance(event, PartStop):
            open_parts.remove(event.index)
        else:
            assert getattr(event, "index") in open_parts, event  # noqa: B009 - the union has no common index
    assert not open_parts, open_parts


def assemble(events: list[StreamEvent]) -> list[Part]:
    """The parts a canonical stream describes, with deltas applied, in index order."""
    parts: dict[int, Part] = {}
    for event in events:
        if isinstance(event, PartStart):
            parts[event.index] = _copy(event.part)
            continue
        part = parts.get(getattr(event, "index", -1))
        if isinstance(event, (TextDelta, ThinkingDelta, RefusalDelta)):
            assert isinstance(part, (TextPart, Thinking, Refusal))
            part.text += event.text
        elif isinstance(event, ToolArgsDelta):
            assert isinstance(part, ToolCall)
            part.arguments += event.fragment
        elif isinstance(event, SignatureDelta):
            assert isinstance(part, Thinking)
            part.signature = (part.signature or "") + event.signature
    return [parts[i] for i in sorted(parts)]


def event_dicts(events: list[StreamEvent]) -> list[dict[str, Any]]:
    """Events as plain dicts (readable snapshots)."""
    return [{"event": type(e).__name__, **asdict(e)} for e in events]


def _copy(part: Part) -> Part:
    if isinstance(part, ToolCall):
        return ToolCall(part.id, part.name, part.arguments)
    if isinstance(part, Thinking):
        return Thinking(part.text, part.signature, part.redacted)
    if isinstance(part, Refusal):
        return Refusal(part.text)
    assert isinstance(part, TextPart)
    return TextPart(part.text)
