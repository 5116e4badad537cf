"""Anthropic Messages SSE -> canonical stream events (one decoder per upstream response).

* Dispatch is on the JSON ``type`` (the real API pads some ``data:`` lines with spaces
  after the JSON, which JSON parsing tolerates). ``ping`` is ignored.
* ``message_start`` -> ``StreamStart``; each modelled ``content_block_start`` ->
  ``PartStart`` with a canonical index (upstream indices of skipped blocks are not
  counted: server-tool blocks, ``fallback``, ``compaction``, ``citations_delta`` are
  dropped as in ``response_decoder``); deltas -> text / tool-args / thinking / signature
  deltas; ``content_block_stop`` -> ``PartStop``.
* ``message_delta`` usage holds cumulative totals that overwrite ``message_start``'s;
  ``message_stop`` closes parts the upstream left open (a ``max_tokens`` cut inside a
  tool call sends no ``content_block_stop``) and emits ``StreamEnd``.
* An ``error`` event raises the classified ``UpstreamError`` (``overloaded_error`` is a
  retryable ``server`` failure).
* An event that cannot be read (not JSON, not an object, a block event without an integer
  ``index``) is skipped and counted in ``malformed_events``.
* Bytes ending without ``message_stop`` after a ``message_delta`` carried the stop reason
  (and the final usage, which rides on it) end the stream as ``message_stop`` would;
  ending before that raises ``UpstreamError("stream_cut")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from engine.canonical import (
    PartStart,
    PartStop,
    SignatureDelta,
    StopReason,
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
from engine.errors import UpstreamError
from engine.sse import SSEEvent, SSEParser
from providers.anthropic.error_classifier import stream_error
from providers.anthropic.fields import JsonObject
from providers.anthropic.wire import merge_usage, stop_from_wire, usage_from_wire


class _Unreadable(Exception):
    """An event of a shape the decoder cannot read: skipped."""


class AnthropicStreamDecoder:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._parser = SSEParser()
        self._clock = clock
        self._started = False
        self._stopping = False  # a message_delta carried the stop reason
        self._done = False
        self._indices: dict[int, int] = {}  # upstream block index -> canonical part index
        self._open: dict[int, None] = {}  # canonical indices started and not stopped, in order
        self._usage: dict[str, Any] = {}
        self._stop_reason: StopReason = "end"
        self._stop_sequence: str | None = None
        self.malformed_events = 0

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in self._parser.feed(chunk):
            self._event(event, out, last=False)
        return out

    def close(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in self._parser.end():
            self._event(event, out, last=True)
        if not self._done:
            if not self._stopping:
                raise UpstreamError("stream_cut", "anthropic stream ended before its stop reason")
            self._stop(out)
        return out

    def _event(self, event: SSEEvent, out: list[StreamEvent], *, last: bool) -> None:
        """``last``: the event the end of the stream closed; unreadable, it was cut, not malformed."""
        if self._done or not event.data.strip():
            return  # nothing after message_stop; an empty data line is a keep-alive
        try:
            self._dispatch(event, _load(event), out)
        except _Unreadable:
            if not last:
                self.malformed_events += 1

    def _dispatch(self, event: SSEEvent, data: JsonObject, out: list[StreamEvent]) -> None:
        kind = data.get("type", event.event)
        if kind == "error":
            raise stream_error(data)
        if kind == "message_start":
            self._message_start(data, out)
        elif kind in ("ping", None):
            return
        elif not self._started:
            raise UpstreamError("server", f"anthropic sent {kind} before message_start")
        elif kind == "content_block_start":
            self._block_start(data, out)
        elif kind == "content_block_delta":
            self._block_delta(data, out)
        elif kind == "content_block_stop":
            index = self._indices.get(_int(data, "index"))
            if index is not None and index in self._open:
                del self._open[index]
                out.append(PartStop(index))
        elif kind == "message_delta":
            self._message_delta(data)
        elif kind == "message_stop":
            self._stop(out)

    def _stop(self, out: list[StreamEvent]) -> None:
        out.extend(PartStop(index) for index in self._open)
        self._open.clear()
        out.append(StreamEnd(self._stop_reason, usage_from_wire(self._usage), self._stop_sequence))
        self._done = True

    def _message_start(self, data: JsonObject, out: list[StreamEvent]) -> None:
        message = _obj(data, "message")
        self._usage = merge_usage({}, _obj(message, "usage"))
        self._started = True
        out.append(StreamStart(id=_str(message, "id"), model=_str(message, "model"), created=int(self._clock())))

    def _block_start(self, data: JsonObject, out: list[StreamEvent]) -> None:
        block = _obj(data, "content_block")
        kind = block.get("type")
        part: TextPart | ToolCall | Thinking
        if kind == "text":
            part = TextPart("")
        elif kind == "tool_use":
            part = ToolCall(id=_str(block, "id"), name=_str(block, "name"), arguments="")
        elif kind == "thinking":
            part = Thinking(text="")
        elif kind == "redacted_thinking":
            part = Thinking(text="", redacted=_str(block, "data"))
        else:
            return  # not modelled: its deltas and stop are skipped too
        index = len(self._indices)
        self._indices[_int(data, "index")] = index
        self._open[index] = None
        out.append(PartStart(index, part))
        # Blocks normally start empty; carry over anything a block starts with.
        if kind == "text" and (text := _str(block, "text")):
            out.append(TextDelta(index, text))
        elif kind == "tool_use" and (initial := block.get("input")):
            out.append(ToolArgsDelta(index, orjson.dumps(initial).decode()))
        elif kind == "thinking":
            if text := _str(block, "thinking"):
                out.append(ThinkingDelta(index, text))
            if signature := _str(block, "signature"):
                out.append(SignatureDelta(index, signature))

    def _block_delta(self, data: JsonObject, out: list[StreamEvent]) -> None:
        index = self._indices.get(_int(data, "index"))
        if index is None:
            return
        delta = _obj(data, "delta")
        kind = delta.get("type")
        if kind == "text_delta" and (text := _str(delta, "text")):
            out.append(TextDelta(index, text))
        elif kind == "input_json_delta" and (fragment := _str(delta, "partial_json")):
            out.append(ToolArgsDelta(index, fragment))
        elif kind == "thinking_delta" and (text := _str(delta, "thinking")):
            out.append(ThinkingDelta(index, text))
        elif kind == "signature_delta" and (signature := _str(delta, "signature")):
            out.append(SignatureDelta(index, signature))

    def _message_delta(self, data: JsonObject) -> None:
        delta = _obj(data, "delta")
        if "stop_reason" in delta and delta["stop_reason"] is not None:
            self._stop_reason = stop_from_wire(delta["stop_reason"])
            self._stopping = True
        stop_sequence = delta.get("stop_sequence")
        self._stop_sequence = stop_sequence if isinstance(stop_sequence, str) else None
        self._usage = merge_usage(self._usage, _obj(data, "usage"))


def _load(event: SSEEvent) -> JsonObject:
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise _Unreadable("not JSON") from None
    if not isinstance(data, dict):
        raise _Unreadable("not a JSON object")
    return data


def _obj(data: JsonObject, key: str) -> JsonObject:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _str(data: JsonObject, key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _int(data: JsonObject, key: str) -> int:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _Unreadable(f"anthropic stream event without an integer {key!r}")
