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
without ``finishReason`` raises ``UpstreamError("stream_cut")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

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
from engine.errors import UpstreamError
from engine.sse import SSEParser
from providers.gemini import call_ids, usage
from providers.gemini.error_classifier import classify_object
from providers.gemini.fields import JsonObject, bad_upstream
from providers.gemini.part_decoder import CallLedger, check_part_keys
from providers.gemini.partial_args import ArgsBuilder
from providers.gemini.response_decoder import candidate_zero, created_at
from providers.gemini.wire import stop_reason


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

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in self._sse.feed(chunk):
            if not event.data.strip() or self._ended:
                continue
            try:
                payload = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                raise UpstreamError("server", "Gemini stream sent a chunk that is not JSON") from None
            self._chunk(payload, out)
        return out

    def close(self) -> list[StreamEvent]:
        if not self._ended:
            raise UpstreamError("stream_cut", "Gemini stream ended without a finishReason")
        return []

    def _chunk(self, payload: object, out: list[StreamEvent]) -> None:
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            raise classify_object(payload["error"], 200)
        resp = JsonObject.of(payload, "", bad_upstream)
        if not self._started:
            self._start(resp, out)
        meta = resp.obj("usageMetadata")
        if meta is not None and usage.has_counts(meta):
            self._usage = usage.from_wire(meta)
        cand = candidate_zero(resp)
        if cand is None:
            feedback = resp.obj("promptFeedback")
            if feedback is not None and feedback.string("blockReason"):
                self._finish("content_filter", out)
            return
        content = cand.obj("content")
        if content is not None:
            for part in content.objects("parts"):
                self._part(part, out)
        finish = cand.string("finishReason")
        if finish:
            if self._pending is not None:
                raise UpstreamError("server", "Gemini stream finished inside a function call")
            reason = stop_reason(finish, has_tool_calls=self._saw_calls, message=cand.string("finishMessage"))
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

    def _part(self, part: JsonObject, out: list[StreamEvent]) -> None:
        check_part_keys(part)
        if part.has("functionCall"):
            self._call(part, out)
            return
        if self._pending is not None:
            raise part.fail(part.path, "a function call streamed with willContinue was interrupted")
        if not part.has("text"):
            raise part.fail(part.path, "only text and function calls can be streamed through the gateway")
        text = part.string("text") or ""
        signature = part.string("thoughtSignature")
        if part.boolean("thought"):
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

    def _call(self, part: JsonObject, out: list[StreamEvent]) -> None:
        fc = part.obj("functionCall")
        assert fc is not None
        name = fc.string("name")
        wire_id = fc.string("id") or None
        signature = part.string("thoughtSignature")
        if signature and not call_ids.is_base64(signature):
            raise part.error("thoughtSignature", "expected base64")
        pending = self._pending
        if pending is None:
            if not name:
                raise fc.error("name", "required")
            self._close_open(out)
            pending = self._pending = _PendingCall(name, wire_id, signature, ArgsBuilder(fc.dict_value("args")))
        else:
            if (name and name != pending.name) or (wire_id and pending.wire_id and wire_id != pending.wire_id):
                raise fc.fail(fc.path, "a new function call began before the streamed one ended")
            pending.wire_id = pending.wire_id or wire_id
            pending.signature = pending.signature or signature
            args = fc.dict_value("args")
            if args:
                pending.args.args.update(args)
        for piece in fc.objects("partialArgs"):
            pending.args.add(piece)
        if not fc.boolean("willContinue"):
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
