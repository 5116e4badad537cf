"""An upstream Responses SSE stream as canonical stream events.

``response.created`` (or ``response.in_progress``, whichever comes first) ->
``StreamStart``; output or a terminal event before it is a malformed stream. Each
``output_text`` / ``refusal`` content part of a message, each ``function_call`` item and
each ``reasoning`` item that has any summary text or encrypted content becomes one
canonical part, numbered in order of first appearance. Reasoning starts lazily on its
first text (summary parts after the first are joined by a blank line) and its final
``encrypted_content`` (from ``response.output_item.done``; the one in ``added`` may be
incomplete) arrives as a ``SignatureDelta`` before its ``PartStop``. Text or arguments
that only show up in a ``.done`` event (a proxy that does not stream them) are emitted as
one delta then.

``response.completed`` / ``response.incomplete`` -> ``StreamEnd`` with the usage and the
stop reason (same rules as ``response_decoder``). ``error`` and ``response.failed`` raise
``UpstreamError``; so does an item the gateway cannot translate (see
``response_decoder``). Other events (annotations, hosted-tool progress, keep-alives) carry
nothing canonical.

An event that cannot be read (not JSON, or a field of the wrong type) is skipped and
counted in ``malformed_events``: every handler reads its fields before it changes any
state, so a skipped event leaves none behind. The terminal event is the finish reason
here (it alone carries the status, the usage, and the knowledge that no further output
item follows), so a stream that ends before it is ``stream_cut`` even when every output
item it opened was done; so is one whose terminal event was malformed or cut short.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from engine.canonical import (
    PartStart,
    PartStop,
    Refusal,
    RefusalDelta,
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
from providers.openai_responses.error_classifier import classify_error_event
from providers.openai_responses.response_decoder import (
    check_item_kind,
    failure,
    reasoning_part,
    stop_reason,
)
from providers.openai_responses.wire import (
    JSONObject,
    WireError,
    as_list,
    as_object,
    opt_float,
    opt_int,
    opt_str,
    req_str,
    usage_from_wire,
)

# A part's key: (output_index, content_index) for message content, (output_index, ITEM)
# for a function call or reasoning item.
_Key = tuple[int, int]
ITEM = -1


@dataclass(slots=True)
class _Open:
    index: int
    kind: str  # "text" | "refusal" | "tool" | "thinking"
    streamed: str = ""


class ResponsesStreamDecoder:
    """One per upstream stream: ``feed`` bytes as they arrive, ``close`` at the end."""

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._next = 0  # the next canonical part index
        self._parts: dict[_Key, _Open] = {}  # the open parts
        self._seen: set[_Key] = set()  # every part ever started
        self._summaries: dict[int, int] = {}  # output_index -> last summary_index
        self._started = False
        self._has_tool = False
        self._has_refusal = False
        self._finished = False
        self._out: list[StreamEvent] = []
        self.malformed_events = 0

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return self._read(self._parser.feed(chunk), last=False)

    def close(self) -> list[StreamEvent]:
        out = [] if self._finished else self._read(self._parser.end(), last=True)
        if not self._finished:
            raise UpstreamError("stream_cut", "the upstream stream ended before response.completed")
        return out

    def _read(self, events: list[SSEEvent], *, last: bool) -> list[StreamEvent]:
        """``last``: the event the end of the stream closed; unreadable, it was cut, not malformed."""
        for sse in events:
            data = sse.data.strip()
            if self._finished or not data or data == "[DONE]":
                continue
            try:
                self._event(as_object(orjson.loads(data), "event"))
            except (orjson.JSONDecodeError, WireError):
                if not last:
                    self.malformed_events += 1
        out, self._out = self._out, []
        return out

    # ---- dispatch --------------------------------------------------------------------

    def _event(self, event: JSONObject) -> None:
        """Each branch reads every field it needs before it changes anything."""
        kind = req_str(event, "type", "event")
        if kind in ("response.created", "response.in_progress"):
            if not self._started:
                resp = as_object(event.get("response"), "event.response")
                created = int(opt_float(resp, "created_at", "event.response") or 0)
                start = StreamStart(
                    req_str(resp, "id", "event.response"), req_str(resp, "model", "event.response"), created
                )
                self._started = True
                self._out.append(start)
        elif kind == "response.output_item.added":
            self._item_added(as_object(event.get("item"), "event.item"), _oi(event))
        elif kind == "response.content_part.added":
            part = as_object(event.get("part"), "event.part")
            pkind = req_str(part, "type", "event.part")
            if pkind in ("output_text", "refusal"):
                self._content(event, "text" if pkind == "output_text" else "refusal")
        elif kind == "response.output_text.delta":
            delta = req_str(event, "delta", "event")
            self._delta(self._content(event, "text"), delta)
        elif kind == "response.refusal.delta":
            delta = req_str(event, "delta", "event")
            self._delta(self._content(event, "refusal"), delta)
        elif kind == "response.output_text.done":
            full = opt_str(event, "text", "event")
            self._complete(self._content(event, "text"), full)
        elif kind == "response.refusal.done":
            full = opt_str(event, "refusal", "event")
            self._complete(self._content(event, "refusal"), full)
        elif kind == "response.content_part.done":
            self._stop((_oi(event), opt_int(event, "content_index", "event") or 0))
        elif kind == "response.function_call_arguments.delta":
            self._delta(self._parts.get((_oi(event), ITEM)), req_str(event, "delta", "event"))
        elif kind == "response.function_call_arguments.done":
            self._complete(self._parts.get((_oi(event), ITEM)), opt_str(event, "arguments", "event"))
        elif kind == "response.reasoning_summary_part.added":
            self._summary_part(_oi(event), opt_int(event, "summary_index", "event") or 0)
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            delta = req_str(event, "delta", "event")
            self._delta(self._thinking(_oi(event)), delta)
        elif kind == "response.output_item.done":
            self._item_done(as_object(event.get("item"), "event.item"), _oi(event))
        elif kind in ("response.completed", "response.incomplete"):
            self._end(as_object(event.get("response"), "event.response"))
        elif kind == "response.failed":
            response = event.get("response")
            raise failure(response if isinstance(response, dict) else {})
        elif kind == "error":
            raise classify_error_event(event)

    # ---- items -----------------------------------------------------------------------

    def _item_added(self, item: JSONObject, oi: int) -> None:
        kind = req_str(item, "type", "event.item")
        if kind == "function_call":
            call = ToolCall(req_str(item, "call_id", "event.item"), req_str(item, "name", "event.item"), "")
            arguments = opt_str(item, "arguments", "event.item") or ""
            self._has_tool = True
            self._start((oi, ITEM), "tool", call)
            self._delta(self._parts[(oi, ITEM)], arguments)
        elif kind not in ("message", "reasoning"):
            check_item_kind(kind)

    def _item_done(self, item: JSONObject, oi: int) -> None:
        kind = req_str(item, "type", "event.item")
        if kind == "message":
            contents: list[tuple[str | None, str | None]] = []  # (kind, its text) of each content
            for j, raw in enumerate(as_list(item.get("content", []), "event.item.content")):
                content = as_object(raw, f"event.item.content[{j}]")
                ckind = content.get("type")
                field = "text" if ckind == "output_text" else "refusal" if ckind == "refusal" else None
                contents.append((field, opt_str(content, field, "event.item") if field else None))
            for j, (field, full) in enumerate(contents):
                if (oi, j) not in self._seen and field is not None:
                    self._complete(self._content_at(oi, j, field), full)
                self._stop((oi, j))
        elif kind == "function_call":
            self._complete(self._parts.get((oi, ITEM)), opt_str(item, "arguments", "event.item"))
            self._stop((oi, ITEM))
        elif kind == "reasoning":
            done = reasoning_part(item, "event.item")
            opened = self._thinking(oi) if done is not None else None
            if done is not None and opened is not None:
                if not opened.streamed:
                    self._delta(opened, done.text)
                if done.signature:
                    self._out.append(SignatureDelta(opened.index, done.signature))
            self._stop((oi, ITEM))

    def _summary_part(self, oi: int, summary_index: int) -> None:
        last = self._summaries.get(oi)
        self._summaries[oi] = summary_index
        opened = self._parts.get((oi, ITEM))
        if last is not None and summary_index != last and opened is not None and opened.streamed:
            self._delta(opened, "\n\n")

    def _end(self, response: JSONObject) -> None:
        if not self._started:
            raise UpstreamError("server", "the upstream stream ended before response.created")
        reason: StopReason = stop_reason(response, [])
        usage = usage_from_wire(response.get("usage"), "event.response.usage")
        if reason == "end" and self._has_tool:
            reason = "tool_use"
        elif reason == "end" and self._has_refusal:
            reason = "refusal"
        for key in list(self._parts):
            self._stop(key)
        self._out.append(StreamEnd(reason, usage))
        self._finished = True

    # ---- parts -----------------------------------------------------------------------

    def _content(self, event: JSONObject, kind: str) -> _Open | None:
        return self._content_at(_oi(event), opt_int(event, "content_index", "event") or 0, kind)

    def _content_at(self, oi: int, ci: int, kind: str) -> _Open | None:
        """The open part for this content, started on first sight; None once stopped."""
        key = (oi, ci)
        if key not in self._seen:
            if kind == "refusal":
                self._has_refusal = True
            self._start(key, kind, Refusal("") if kind == "refusal" else TextPart(""))
        return self._parts.get(key)

    def _thinking(self, oi: int) -> _Open | None:
        key = (oi, ITEM)
        if key not in self._seen:
            self._start(key, "thinking", Thinking(""))
        return self._parts.get(key)

    def _start(self, key: _Key, kind: str, part: TextPart | Refusal | ToolCall | Thinking) -> None:
        if not self._started:
            raise UpstreamError("server", "the upstream stream sent output before response.created")
        self._parts[key] = _Open(self._next, kind)
        self._seen.add(key)
        self._out.append(PartStart(self._next, part))
        self._next += 1

    def _delta(self, opened: _Open | None, text: str) -> None:
        if opened is None or not text:
            return
        opened.streamed += text
        index = opened.index
        if opened.kind == "text":
            self._out.append(TextDelta(index, text))
        elif opened.kind == "refusal":
            self._out.append(RefusalDelta(index, text))
        elif opened.kind == "tool":
            self._out.append(ToolArgsDelta(index, text))
        else:
            self._out.append(ThinkingDelta(index, text))

    def _complete(self, opened: _Open | None, full: str | None) -> None:
        """Emit what a ``.done`` event holds beyond what was streamed."""
        if opened is None or not full or not full.startswith(opened.streamed):
            return
        self._delta(opened, full[len(opened.streamed) :])

    def _stop(self, key: _Key) -> None:
        opened = self._parts.pop(key, None)
        if opened is not None:
            self._out.append(PartStop(opened.index))


def _oi(event: JSONObject) -> int:
    return opt_int(event, "output_index", "event") or 0
