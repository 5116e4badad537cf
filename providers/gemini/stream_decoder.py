"""Gemini ``streamGenerateContent?alt=sse`` bytes -> canonical stream events.

Each SSE ``data:`` is a whole ``GenerateContentResponse`` holding the *new* parts of
``candidates[0]`` and the usage so far. Mapping:

* the first chunk -> ``StreamStart`` (``responseId``, ``modelVersion``) ;
* text -> one text part per run of text chunks; ``thought: true`` text -> a thinking
  part, its ``thoughtSignature`` a ``SignatureDelta`` on it ;
* a ``thoughtSignature`` on a non-thought text part (Gemini 3 sends it on an empty
  trailing text part) -> a thinking part with no text and that signature, as in
  ``part_decoder`` ;
* a function call -> start, arguments and stop of a tool-call part, emitted when the
  call is complete: at once for an ordinary ``functionCall``, or when a call streamed
  with ``willContinue`` / ``partialArgs`` (Vertex) ends (see ``partial_args``); ids per
  ``call_ids`` ;
* ``finishReason`` (Gemini often sends it in a trailing chunk of its own) -> open parts
  stopped, then ``StreamEnd`` with the latest usage (``STOP`` with calls -> tool_use).
  Chunks after it are ignored.

An ``{"error": ...}`` chunk raises its classified ``UpstreamError``; a stream that ends
without ``finishReason`` raises ``UpstreamError("stream_cut")`` (Gemini has no terminator
beyond it: the chunk with ``finishReason`` ends the stream, with the usage it carries).

Each chunk is read into types (``_Chunk``) before it changes anything, so a chunk that
cannot be read (not JSON, not an object, a field of the wrong type) is skipped whole and
counted in ``malformed_events``. What is readable but wrong stays an error: a part the
gateway cannot carry, a second candidate, a broken function-call sequence, a failing
``finishReason``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

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
    Usage,
)
from engine.errors import GatewayError, UpstreamError
from engine.sse import SSEEvent, SSEParser
from providers.gemini import call_ids, usage
from providers.gemini.error_classifier import classify_object
from providers.gemini.fields import JsonObject, bad_upstream
from providers.gemini.part_decoder import CallLedger, check_part_keys
from providers.gemini.partial_args import ArgsBuilder
from providers.gemini.response_decoder import created_at
from providers.gemini.wire import stop_reason


class _Unreadable(UpstreamError):
    """Raised while a chunk is read into types: a shape the decoder cannot read, and the
    chunk is skipped; with a ``code`` (a part the gateway cannot carry) it is raised on.
    What the read keeps for later (``_Chunk.resp``, ``_Call.pieces``) fails with the
    plain ``bad_upstream``."""


def _unreadable(path: str, problem: str) -> GatewayError:
    return _Unreadable("server", f"malformed Gemini response: {path or 'body'}: {problem}")


@dataclass(slots=True, frozen=True)
class _Call:
    name: str | None
    wire_id: str | None
    args: dict[str, Any] | None
    pieces: list[JsonObject]  # partialArgs, their fields' types checked
    will_continue: bool


@dataclass(slots=True, frozen=True)
class _Part:
    path: str
    text: str | None  # None: the part has no text
    thought: bool
    signature: str | None
    call: _Call | None


@dataclass(slots=True, frozen=True)
class _Chunk:
    resp: JsonObject  # what StreamStart needs, its fields' types checked
    usage: Usage | None
    parts: list[_Part]
    has_candidate: bool
    finish: str | None
    finish_message: str | None
    blocked: bool  # no candidate: the prompt was blocked


@dataclass(slots=True)
class _PendingCall:
    name: str
    wire_id: str | None
    signature: str | None
    args: ArgsBuilder = field(default_factory=ArgsBuilder)


class GeminiStreamDecoder:
    """Per request; see the module docstring."""

    def __init__(self, *, model: str, clock: Callable[[], float], new_id: Callable[[], str]) -> None:
        self._model = model
        self._clock = clock
        self._new_id = new_id
        self._sse = SSEParser()
        self._started = False
        self._ended = False
        self._ledger = CallLedger()
        self._next = 0
        self._open: tuple[int, Literal["text", "thinking"]] | None = None
        self._pending: _PendingCall | None = None
        self._saw_calls = False
        self._usage = Usage()
        self.malformed_events = 0

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return self._read(self._sse.feed(chunk), last=False)

    def close(self) -> list[StreamEvent]:
        out = [] if self._ended else self._read(self._sse.end(), last=True)
        if not self._ended:
            raise UpstreamError("stream_cut", "Gemini stream ended without a finishReason")
        return out

    def _read(self, events: list[SSEEvent], *, last: bool) -> list[StreamEvent]:
        """``last``: the event the end of the stream closed; unreadable, it was cut, not malformed."""
        out: list[StreamEvent] = []
        for event in events:
            if not event.data.strip() or self._ended:
                continue
            try:
                payload = orjson.loads(event.data)
                if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
                    raise classify_object(payload["error"], 200)
                chunk = _read_chunk(payload)
            except (orjson.JSONDecodeError, _Unreadable) as err:
                if isinstance(err, _Unreadable) and err.code is not None:
                    raise
                if not last:
                    self.malformed_events += 1
                continue
            self._chunk(chunk, out)
        return out

    def _chunk(self, chunk: _Chunk, out: list[StreamEvent]) -> None:
        if not self._started:
            self._start(chunk.resp, out)
        if chunk.usage is not None:
            self._usage = chunk.usage
        if not chunk.has_candidate:
            if chunk.blocked:
                self._finish("content_filter", out)
            return
        for part in chunk.parts:
            self._part(part, out)
        if chunk.finish:
            if self._pending is not None:
                raise UpstreamError("server", "Gemini stream finished inside a function call")
            reason = stop_reason(chunk.finish, has_tool_calls=self._saw_calls, message=chunk.finish_message)
            self._finish(reason, out)

    def _start(self, resp: JsonObject, out: list[StreamEvent]) -> None:
        response_id = resp.string("responseId") or self._new_id()
        self._ledger = CallLedger(call_ids.scope_of(response_id))
        model = resp.string("modelVersion") or self._model
        out.append(StreamStart(id=response_id, model=model, created=created_at(resp, self._clock)))
        self._started = True

    def _finish(self, reason: StopReason, out: list[StreamEvent]) -> None:
        self._close_open(out)
        out.append(StreamEnd(stop_reason=reason, usage=self._usage))
        self._ended = True

    def _part(self, part: _Part, out: list[StreamEvent]) -> None:
        if part.call is not None:
            self._call(part, part.call, out)
            return
        if self._pending is not None:
            raise bad_upstream(part.path, "a function call streamed with willContinue was interrupted")
        if part.text is None:
            raise bad_upstream(part.path, "only text and function calls can be streamed through the gateway")
        text, signature = part.text, part.signature
        if part.thought:
            index = self._ensure_open("thinking", out)
            if text:
                out.append(ThinkingDelta(index, text))
            if signature:
                out.append(SignatureDelta(index, signature))
            return
        if text:
            out.append(TextDelta(self._ensure_open("text", out), text))
        if signature:
            self._close_open(out)
            index = self._new_index()
            out += [PartStart(index, Thinking("")), SignatureDelta(index, signature), PartStop(index)]

    def _call(self, part: _Part, fc: _Call, out: list[StreamEvent]) -> None:
        signature = part.signature
        if signature and not call_ids.is_base64(signature):
            raise bad_upstream(f"{part.path}.thoughtSignature", "expected base64")
        pending = self._pending
        if pending is None:
            if not fc.name:
                raise bad_upstream(f"{part.path}.functionCall.name", "required")
            self._close_open(out)
            pending = self._pending = _PendingCall(fc.name, fc.wire_id, signature, ArgsBuilder(fc.args))
        else:
            if (fc.name and fc.name != pending.name) or (
                fc.wire_id and pending.wire_id and fc.wire_id != pending.wire_id
            ):
                raise bad_upstream(
                    f"{part.path}.functionCall", "a new function call began before the streamed one ended"
                )
            pending.wire_id = pending.wire_id or fc.wire_id
            pending.signature = pending.signature or signature
            if fc.args:
                pending.args.args.update(fc.args)
        for piece in fc.pieces:
            pending.args.add(piece)
        if not fc.will_continue:
            self._pending = None
            self._saw_calls = True
            index = self._new_index()
            call_id = self._ledger.call(pending.name, pending.wire_id, pending.signature)
            out.append(PartStart(index, ToolCall(call_id, pending.name, "")))
            out.append(ToolArgsDelta(index, orjson.dumps(pending.args.args).decode()))
            out.append(PartStop(index))

    def _ensure_open(self, kind: Literal["text", "thinking"], out: list[StreamEvent]) -> int:
        if self._open is not None and self._open[1] == kind:
            return self._open[0]
        self._close_open(out)
        index = self._new_index()
        out.append(PartStart(index, TextPart("") if kind == "text" else Thinking("")))
        self._open = (index, kind)
        return index

    def _close_open(self, out: list[StreamEvent]) -> None:
        if self._open is not None:
            out.append(PartStop(self._open[0]))
            self._open = None

    def _new_index(self) -> int:
        index = self._next
        self._next += 1
        return index


# ---- reading a chunk into types ------------------------------------------------------


def _read_chunk(payload: object) -> _Chunk:
    """``payload`` read into types; ``_Unreadable`` when it cannot be (a second candidate
    raises the plain ``UpstreamError``: it is readable, and not ours to relay)."""
    resp = JsonObject.of(payload, "", _unreadable)
    for name in ("responseId", "modelVersion", "createTime"):
        resp.string(name)
    kept = JsonObject(resp.data, "", bad_upstream)
    meta = resp.obj("usageMetadata")
    read_usage = usage.from_wire(meta) if meta is not None and usage.has_counts(meta) else None
    candidates = resp.objects("candidates")
    for cand in candidates:
        if (cand.integer("index") or 0) != 0:
            raise bad_upstream(cand.at("index"), "only one candidate was requested")
    if not candidates:
        feedback = resp.obj("promptFeedback")
        blocked = feedback is not None and bool(feedback.string("blockReason"))
        return _Chunk(kept, read_usage, [], False, None, None, blocked)
    cand = candidates[0]
    content = cand.obj("content")
    parts = [_read_part(part) for part in content.objects("parts")] if content is not None else []
    return _Chunk(kept, read_usage, parts, True, cand.string("finishReason"), cand.string("finishMessage"), False)


def _read_part(part: JsonObject) -> _Part:
    check_part_keys(part)
    fc = part.obj("functionCall")
    call = None
    if fc is not None:
        pieces = fc.objects("partialArgs")
        for piece in pieces:  # their types now, their meaning when they are applied
            for name in ("jsonPath", "stringValue"):
                piece.string(name)
            for name in ("boolValue", "willContinue"):
                piece.boolean(name)
            piece.number("numberValue")
        pieces = [JsonObject(piece.data, piece.path, bad_upstream) for piece in pieces]
        call = _Call(
            fc.string("name"), fc.string("id") or None, fc.dict_value("args"), pieces, bool(fc.boolean("willContinue"))
        )
    text = (part.string("text") or "") if part.has("text") else None
    return _Part(part.path, text, bool(part.boolean("thought")), part.string("thoughtSignature"), call)
