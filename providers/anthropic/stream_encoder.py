"""Canonical stream events -> Anthropic Messages SSE (one encoder per client response).

The output follows the real API's sequence, with ``event:`` + ``data:`` framing:
``message_start`` (empty content) -> per block ``content_block_start`` -> deltas ->
``content_block_stop`` -> ``message_delta`` (stop reason + usage) -> ``message_stop``,
with one ``ping`` after the first block start (or before ``message_delta`` when the
message has no blocks, as in the recorded refusals).

* Canonical parts may interleave; Anthropic blocks may not. The first part streams live;
  a part that starts while another is open is buffered (its deltas coalesced) and
  written as a whole block once the open one stops, so at most one block is open and
  block indices are contiguous in order of emission.
* Usage is only known at ``StreamEnd``: ``message_start`` carries zeros and
  ``message_delta`` carries the real totals, ``input_tokens`` and cache fields included
  (as the 2026 recordings do; the SDK overwrites the start values with them).
* Parts map like ``response_encoder``: refusals are text blocks, thinking keeps its
  signature (``signature_delta``), redacted thinking is one ``redacted_thinking`` block,
  tool-use ids start with ``toolu_`` (``tool_ids``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from engine.canonical import (
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
from engine.errors import GatewayError
from engine.sse import frame
from providers.anthropic import tool_ids
from providers.anthropic.error_body import error_body
from providers.anthropic.fields import JsonObject
from providers.anthropic.wire import STOP_TO_WIRE, usage_to_wire

Delta = TextDelta | RefusalDelta | ToolArgsDelta | ThinkingDelta | SignatureDelta

_ZERO_USAGE: JsonObject = {
    "input_tokens": 0,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 0,
}


@dataclass(slots=True)
class _Buffered:
    part: TextPart | ToolCall | Thinking | Refusal
    deltas: list[JsonObject] = field(default_factory=list)
    stopped: bool = False


class AnthropicStreamEncoder:
    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._pinged = False
        self._blocks = 0  # Anthropic block indices used so far
        self._active: int | None = None  # canonical index streaming live
        self._active_block = 0
        self._pending: dict[int, _Buffered] = {}  # started while another was open

    def encode(self, event: StreamEvent) -> bytes:
        if self._finished:
            return b""
        if isinstance(event, StreamStart):
            self._started = True
            return _frame(_message_start(event))
        if not self._started:
            raise ValueError(f"{type(event).__name__} before StreamStart")
        out: list[bytes] = []
        if isinstance(event, PartStart):
            if self._active is None:
                self._open(event.index, event.part, out)
            else:
                self._pending[event.index] = _Buffered(event.part)
        elif isinstance(event, PartStop):
            if event.index == self._active:
                self._close(out)
                self._flush(out, force=False)
            elif event.index in self._pending:
                self._pending[event.index].stopped = True
        elif isinstance(event, StreamEnd):
            if self._active is not None:
                self._close(out)
            self._flush(out, force=True)
            self._end(event, out)
        else:
            self._delta(event, out)
        return b"".join(out)

    def error(self, err: GatewayError) -> bytes:
        self._finished = True
        return _frame(error_body(err))

    # -- blocks ------------------------------------------------------------------------

    def _open(self, index: int, part: TextPart | ToolCall | Thinking | Refusal, out: list[bytes]) -> None:
        self._active, self._active_block = index, self._blocks
        self._blocks += 1
        start = {"type": "content_block_start", "index": self._active_block, "content_block": _start_block(part)}
        out.append(_frame(start))
        if not self._pinged:
            self._pinged = True
            out.append(_frame({"type": "ping"}))
        for delta in _initial_deltas(part):
            out.append(self._delta_frame(delta))

    def _close(self, out: list[bytes]) -> None:
        out.append(_frame({"type": "content_block_stop", "index": self._active_block}))
        self._active = None

    def _flush(self, out: list[bytes], *, force: bool) -> None:
        """Write buffered parts in start order until one is still open (it goes live)."""
        while self._active is None and self._pending:
            index = next(iter(self._pending))
            buffered = self._pending.pop(index)
            self._open(index, buffered.part, out)
            out.extend(self._delta_frame(delta) for delta in _coalesce(buffered.deltas))
            if buffered.stopped or force:
                self._close(out)

    def _delta(self, event: Delta, out: list[bytes]) -> None:
        delta = _wire_delta(event)
        if event.index == self._active:
            out.append(self._delta_frame(delta))
        elif (buffered := self._pending.get(event.index)) is not None:
            buffered.deltas.append(delta)
        else:
            raise ValueError(f"{type(event).__name__} for part {event.index}, which is not open")

    def _delta_frame(self, delta: JsonObject) -> bytes:
        return _frame({"type": "content_block_delta", "index": self._active_block, "delta": delta})

    def _end(self, end: StreamEnd, out: list[bytes]) -> None:
        if not self._pinged:
            out.append(_frame({"type": "ping"}))
        delta = {"stop_reason": STOP_TO_WIRE[end.stop_reason], "stop_sequence": end.stop_sequence}
        out.append(_frame({"type": "message_delta", "delta": delta, "usage": usage_to_wire(end.usage)}))
        out.append(_frame({"type": "message_stop"}))
        self._finished = True


def _frame(data: JsonObject) -> bytes:
    return frame(orjson.dumps(data), event=str(data["type"]))


def _message_start(event: StreamStart) -> JsonObject:
    message: JsonObject = {
        "id": event.id,
        "type": "message",
        "role": "assistant",
        "model": event.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": dict(_ZERO_USAGE),
    }
    return {"type": "message_start", "message": message}


def _start_block(part: TextPart | ToolCall | Thinking | Refusal) -> JsonObject:
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": tool_ids.to_client(part.id), "name": part.name, "input": {}}
    if isinstance(part, Thinking):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "text", "text": ""}


def _initial_deltas(part: TextPart | ToolCall | Thinking | Refusal) -> list[JsonObject]:
    """A part may start with content; blocks always start empty, so it becomes deltas."""
    if isinstance(part, ToolCall):
        return [{"type": "input_json_delta", "partial_json": part.arguments}] if part.arguments else []
    if isinstance(part, Thinking):
        if part.redacted is not None:
            return []
        deltas: list[JsonObject] = []
        if part.text:
            deltas.append({"type": "thinking_delta", "thinking": part.text})
        if part.signature:
            deltas.append({"type": "signature_delta", "signature": part.signature})
        return deltas
    return [{"type": "text_delta", "text": part.text}] if part.text else []


def _wire_delta(event: Delta) -> JsonObject:
    if isinstance(event, (TextDelta, RefusalDelta)):
        return {"type": "text_delta", "text": event.text}
    if isinstance(event, ToolArgsDelta):
        return {"type": "input_json_delta", "partial_json": event.fragment}
    if isinstance(event, ThinkingDelta):
        return {"type": "thinking_delta", "thinking": event.text}
    return {"type": "signature_delta", "signature": event.signature}


_TEXT_KEY = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}


def _coalesce(deltas: list[JsonObject]) -> list[JsonObject]:
    """Joins runs of same-type text deltas; signatures are kept one per delta."""
    out: list[JsonObject] = []
    for delta in deltas:
        key = _TEXT_KEY.get(delta["type"])
        if key is not None and out and out[-1]["type"] == delta["type"]:
            out[-1] = {**out[-1], key: out[-1][key] + delta[key]}
        else:
            out.append(delta)
    return out
