"""OpenAI ``chat.completion.chunk`` SSE from an upstream -> canonical stream events.

The first chunk yields ``StreamStart``. ``reasoning_content`` (or ``reasoning``), ``content``
and ``refusal`` deltas become Thinking, Text and Refusal parts; each OpenAI tool index becomes
a ToolCall part (the first delta carries id and name, later ones argument fragments).
Parts are sequential, as OpenAI sends them: a part of another kind, or the next tool call,
stops the open one. Usage is taken from whichever chunk carries it (OpenAI: the final
``"choices": []`` chunk; some compatible servers: the finish chunk); the finish reason from
the choice. ``[DONE]`` yields ``StreamEnd``.

A chunk that cannot be read (not JSON, not an object, ``choices`` not a list of objects)
is skipped and counted in ``malformed_events``. A stream that ends without ``[DONE]`` after
its finish_reason is complete (the usage chunk, when the upstream sends one, comes between
the two: cut before it, the usage is what the finish chunk carried, else zero).

Failures are raised, never emitted: an ``{"error": ...}`` chunk (classified like an HTTP
error), a second choice (only one can be relayed), and the byte stream ending before a
finish_reason (``stream_cut``).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from engine.canonical import (
    PartStart,
    PartStop,
    Refusal,
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
from engine.sse import SSEEvent, SSEParser
from providers.openai.error_classifier import classify_in_band
from providers.openai.response_decoder import stop_reason
from providers.openai.usage import parse_usage

Kind = Literal["text", "thinking", "refusal", "tool"]


class OpenAIChatStreamDecoder:
    __slots__ = (
        "_parser", "_model", "_started", "_done", "_next", "_open", "_open_kind", "_tools",
        "_finish", "_usage", "_refused", "malformed_events",
    )  # fmt: skip

    def __init__(self, upstream_model: str) -> None:
        self._parser = SSEParser()
        self._model = upstream_model
        self._started = False
        self._done = False
        self._next = 0  # next canonical part index
        self._open: int | None = None  # canonical index of the open part
        self._open_kind: Kind | None = None
        self._tools: dict[int, int] = {}  # OpenAI tool index -> canonical part index
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._refused = False
        self.malformed_events = 0

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return self._read(self._parser.feed(chunk), last=False)

    def close(self) -> list[StreamEvent]:
        if self._done:
            return []
        out = self._read(self._parser.end(), last=True)
        if not self._done:
            if self._finish is None:
                raise UpstreamError("stream_cut", "upstream stream ended before its finish_reason")
            self._end(out)
        return out

    def _read(self, events: list[SSEEvent], *, last: bool) -> list[StreamEvent]:
        """``last``: the event the end of the stream closed; unreadable, it was cut, not malformed."""
        out: list[StreamEvent] = []
        for event in events:
            if self._done:
                break
            data = event.data
            if not data.strip():
                continue  # an empty data line: a keep-alive
            if data == "[DONE]":
                self._end(out)
                continue
            obj = read_chunk(data)
            if obj is None:
                if not last:
                    self.malformed_events += 1
                continue
            self._chunk(obj, out)
        return out

    # ---- per chunk -------------------------------------------------------------------

    def _chunk(self, obj: dict[str, Any], out: list[StreamEvent]) -> None:
        if obj.get("error"):
            raise classify_in_band(obj["error"])
        if not self._started:
            self._started = True
            model = obj.get("model")
            created = obj.get("created")
            out.append(
                StreamStart(
                    id=obj["id"] if isinstance(obj.get("id"), str) else "",
                    model=model if isinstance(model, str) and model else self._model,
                    created=created if isinstance(created, int) and not isinstance(created, bool) else 0,
                )
            )
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self._usage = parse_usage(usage)
        choices = obj.get("choices")
        if not isinstance(choices, list):
            return
        for choice in choices:
            if choice.get("index", 0) != 0:
                raise UpstreamError("server", "upstream streamed several choices; only one can be relayed")
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta, out)
            finish = choice.get("finish_reason")
            if isinstance(finish, str):
                self._finish = finish
                self._stop_open(out)

    def _delta(self, delta: dict[str, Any], out: list[StreamEvent]) -> None:
        content = delta.get("content")
        if len(delta) == 1 and type(content) is str and self._open_kind == "text" and self._open is not None:
            if content:  # the common case: one more piece of the open text part
                out.append(TextDelta(self._open, content))
            return
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            out.append(ThinkingDelta(self._ensure("thinking", out), reasoning))
        if isinstance(content, str) and content:
            out.append(TextDelta(self._ensure("text", out), content))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refused = True
            out.append(RefusalDelta(self._ensure("refusal", out), refusal))
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if isinstance(call, dict):
                    self._tool_delta(call, position, out)

    def _tool_delta(self, call: dict[str, Any], position: int, out: list[StreamEvent]) -> None:
        raw_index = call.get("index", position)
        tool_index = raw_index if isinstance(raw_index, int) else position
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments")
        part_index = self._tools.get(tool_index)
        if part_index is None:
            self._stop_open(out)
            part_index = self._next
            self._next += 1
            self._tools[tool_index] = part_index
            self._open, self._open_kind = part_index, "tool"
            call_id = call.get("id")
            name = function.get("name")
            out.append(
                PartStart(
                    part_index,
                    ToolCall(
                        id=call_id if isinstance(call_id, str) and call_id else f"call_{tool_index}",
                        name=name if isinstance(name, str) else "",
                        arguments="",
                    ),
                )
            )
        elif part_index != self._open:
            raise UpstreamError(
                "server", f"upstream streamed arguments for tool call {tool_index} after a later part began"
            )
        if isinstance(arguments, str) and arguments:
            out.append(ToolArgsDelta(part_index, arguments))

    # ---- parts -----------------------------------------------------------------------

    def _ensure(self, kind: Kind, out: list[StreamEvent]) -> int:
        """The index of the open part of ``kind``, starting one (and stopping another) if needed."""
        if self._open_kind == kind and self._open is not None:
            return self._open
        self._stop_open(out)
        index = self._next
        self._next += 1
        part: TextPart | Thinking | Refusal
        if kind == "text":
            part = TextPart("")
        elif kind == "thinking":
            part = Thinking("")
        else:
            part = Refusal("")
        out.append(PartStart(index, part))
        self._open, self._open_kind = index, kind
        return index

    def _stop_open(self, out: list[StreamEvent]) -> None:
        if self._open is not None:
            out.append(PartStop(self._open))
            self._open, self._open_kind = None, None

    def _end(self, out: list[StreamEvent]) -> None:
        if not self._started:
            raise UpstreamError("server", "upstream stream ended before sending any chunk")
        self._stop_open(out)
        self._done = True
        out.append(StreamEnd(stop_reason(self._finish, refused=self._refused), self._usage or Usage()))


def read_chunk(data: str) -> dict[str, Any] | None:
    """One ``data:`` payload as a chunk object; None when it cannot be read: not JSON, not
    an object, or ``choices`` that is not a list of objects."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    choices = obj.get("choices")
    if choices is not None:
        if type(choices) is not list:
            return None
        for choice in choices:
            if type(choice) is not dict:
                return None
    return obj


def carries_token(choice: dict[str, Any]) -> bool:
    """Whether a choice's delta holds output: content, reasoning, a refusal, audio, or a tool
    call's name or arguments (a role-only or empty delta does not)."""
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return False
    if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning") or delta.get("refusal"):
        return True
    audio = delta.get("audio")
    if isinstance(audio, dict) and (audio.get("data") or audio.get("transcript")):
        return True
    calls = delta.get("tool_calls")
    functions = [c.get("function") for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    functions.append(delta.get("function_call"))
    return any(isinstance(f, dict) and (f.get("name") or f.get("arguments")) for f in functions)
