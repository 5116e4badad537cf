"""Shared helpers for the Anthropic provider tests: fixture loading, stream decoding,
and the official SDK's own stream accumulator as the judge of what we encode."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from engine.canonical import StreamEvent
from engine.sse import SSEParser
from providers.anthropic.stream_decoder import AnthropicStreamDecoder

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"
CLOCK = 1_760_000_000.0

# Every recorded or SDK stream: name -> path (``.chunks.txt`` are one data payload a line).
STREAMS: dict[str, Path] = {
    path.relative_to(FIXTURES).as_posix(): path
    for path in sorted(FIXTURES.rglob("*"))
    if path.name.endswith((".sse", ".chunks.txt"))
}
MESSAGES: dict[str, Path] = {path.name: path for path in sorted((FIXTURES / "recorded-2026").glob("*.json"))}

STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def fixed_clock() -> float:
    return CLOCK


def stream_bytes(name: str) -> bytes:
    """The fixture as SSE bytes; ``.chunks.txt`` lines are framed with their ``type``."""
    path = STREAMS[name]
    raw = path.read_bytes()
    if path.name.endswith(".sse"):
        return raw
    frames = []
    for line in raw.splitlines():
        if line.strip():
            kind = orjson.loads(line)["type"]
            frames.append(b"event: " + kind.encode() + b"\ndata: " + line + b"\n\n")
    return b"".join(frames)


def decode_stream(data: bytes, chunk_size: int | None = None) -> list[StreamEvent]:
    decoder = AnthropicStreamDecoder(fixed_clock)
    events: list[StreamEvent] = []
    step = chunk_size or len(data) or 1
    for start in range(0, len(data), step):
        events.extend(decoder.feed(data[start : start + step]))
    events.extend(decoder.close())
    return events


def as_data(obj: Any) -> Any:
    """A dataclass tree as plain data with each object's class name, for snapshots."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: as_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"_": type(obj).__name__, **fields}
    if isinstance(obj, list):
        return [as_data(item) for item in obj]
    if isinstance(obj, dict):
        return {key: as_data(value) for key, value in obj.items()}
    return obj


def sse_payloads(data: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    parser = SSEParser()
    events = parser.feed(data)
    assert not parser.pending, "the stream ends inside an event"
    return [(event.event, orjson.loads(event.data)) for event in events]


def sdk_message(data: bytes) -> Message:
    """Runs an Anthropic SSE byte stream through the SDK's validation and accumulator."""
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for _, payload in sse_payloads(data):
        if payload["type"] in ("ping", "error"):
            continue
        event = STREAM_EVENT.validate_python(payload)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None
    return Message.model_validate(snapshot.model_dump())
