"""Canonical stream events -> OpenAI ``chat.completion.chunk`` SSE frames (client side).

The frames look like OpenAI's own: the first chunk carries ``delta.role = "assistant"`` and
``content: ""``; text, refusal and ``reasoning_content`` (thinking) deltas follow; a tool
call gets the OpenAI tool index (0, 1, 2... in order of tool calls, not the canonical part
index) with ``id``, ``type`` and ``function.name`` on its first delta and argument fragments
after (a call that streamed no arguments gets ``"{}"``, as OpenAI sends for a call without
parameters); the last choice chunk has an empty delta and the finish reason. With
``include_usage`` every earlier chunk carries ``"usage": null`` and a final
``"choices": []`` chunk carries the usage. Then ``data: [DONE]``.

An error mid-stream is one ``data: {"error": {...}}`` frame and no ``[DONE]``, so a cut never
looks like a clean end (openai-python raises ``APIError`` on it).

Hot path: the ``{"id", "object", "created", "model"`` prefix is serialised once per stream
and each chunk is assembled from bytes around an orjson-encoded delta.
"""

from __future__ import annotations

import orjson

from engine.canonical import (
    PartStart,
    PartStop,
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
from providers.openai.error_body import error_body
from providers.openai.usage import usage_to_wire
from providers.openai.wire import finish_reason

_DONE = b"data: [DONE]\n\n"
_ROLE_DELTA = b'{"role":"assistant","content":"","refusal":null}'
_CHOICE_OPEN = b',"choices":[{"index":0,"delta":'
_CHOICE_TAIL = b',"logprobs":null,"finish_reason":null}]'


class OpenAIChatStreamEncoder:
    """One per response. The ``model`` shown is ``StreamStart.model`` (the executor sets the
    public id that served)."""

    __slots__ = ("_include_usage", "_prefix", "_usage_tail", "_tool_index", "_silent_tools", "_refused", "_ended")

    def __init__(self, *, include_usage: bool) -> None:
        self._include_usage = include_usage
        self._prefix = b""
        self._usage_tail = b',"usage":null}' if include_usage else b"}"
        self._tool_index: dict[int, int] = {}  # canonical part index -> OpenAI tool index
        self._silent_tools: set[int] = set()  # tool parts that have sent no argument text yet
        self._refused = False  # refusal text was sent
        self._ended = False

    def encode(self, event: StreamEvent) -> bytes:
        if self._ended:
            return b""
        if isinstance(event, TextDelta):
            return self._delta(b'{"content":' + orjson.dumps(event.text) + b"}") if event.text else b""
        if isinstance(event, ToolArgsDelta):
            return self._tool_args(event.index, event.fragment)
        if isinstance(event, ThinkingDelta):
            return self._delta(b'{"reasoning_content":' + orjson.dumps(event.text) + b"}") if event.text else b""
        if isinstance(event, RefusalDelta):
            if not event.text:
                return b""
            self._refused = True
            return self._delta(b'{"refusal":' + orjson.dumps(event.text) + b"}")
        if isinstance(event, PartStart):
            return self._part_start(event)
        if isinstance(event, StreamStart):
            head = {"id": event.id, "object": "chat.completion.chunk", "created": event.created, "model": event.model}
            self._prefix = b"data: " + orjson.dumps(head)[:-1]
            return self._delta(_ROLE_DELTA)
        if isinstance(event, StreamEnd):
            return self._end(event)
        if isinstance(event, PartStop):
            if event.index in self._silent_tools:  # a call without arguments: OpenAI sends "{}"
                self._silent_tools.discard(event.index)
                return self._tool_args(event.index, "{}")
            return b""  # no OpenAI counterpart: parts just stop
        if isinstance(event, SignatureDelta):
            return b""  # signatures cannot be carried in this format
        raise TypeError(f"unknown stream event {type(event).__name__}")

    def error(self, err: GatewayError) -> bytes:
        self._ended = True
        return b"data: " + orjson.dumps(error_body(err)) + b"\n\n"

    def _delta(self, delta: bytes) -> bytes:
        if not self._prefix:
            raise RuntimeError("stream event before StreamStart")
        return self._prefix + _CHOICE_OPEN + delta + _CHOICE_TAIL + self._usage_tail + b"\n\n"

    def _part_start(self, event: PartStart) -> bytes:
        part = event.part
        if isinstance(part, ToolCall):
            index = len(self._tool_index)
            self._tool_index[event.index] = index
            if not part.arguments:
                self._silent_tools.add(event.index)
            call = {
                "index": index,
                "id": part.id,
                "type": "function",
                "function": {"name": part.name, "arguments": part.arguments},
            }
            return self._delta(b'{"tool_calls":[' + orjson.dumps(call) + b"]}")
        if not part.text:
            return b""
        if isinstance(part, Thinking):
            key = b'{"reasoning_content":'
        elif isinstance(part, TextPart):
            key = b'{"content":'
        else:
            key = b'{"refusal":'
            self._refused = True
        return self._delta(key + orjson.dumps(part.text) + b"}")

    def _tool_args(self, part_index: int, fragment: str) -> bytes:
        index = self._tool_index.get(part_index)
        if index is None:
            raise RuntimeError(f"ToolArgsDelta for part {part_index} before its PartStart")
        if not fragment:
            return b""
        self._silent_tools.discard(part_index)
        call = b'{"index":' + str(index).encode() + b',"function":{"arguments":' + orjson.dumps(fragment) + b"}}"
        return self._delta(b'{"tool_calls":[' + call + b"]}")

    def _end(self, event: StreamEnd) -> bytes:
        self._ended = True
        if not self._prefix:
            raise RuntimeError("StreamEnd before StreamStart")
        reason = orjson.dumps(finish_reason(event.stop_reason, has_refusal_text=self._refused))
        out = (
            self._prefix
            + _CHOICE_OPEN
            + b'{},"logprobs":null,"finish_reason":'
            + reason
            + b"}]"
            + self._usage_tail
            + b"\n\n"
        )
        if self._include_usage:
            out += self._prefix + b',"choices":[],"usage":' + orjson.dumps(usage_to_wire(event.usage)) + b"}\n\n"
        return out + _DONE
