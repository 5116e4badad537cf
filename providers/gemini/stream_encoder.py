"""Canonical stream events -> Gemini ``alt=sse`` frames, for clients.

Every frame is ``data: <GenerateContentResponse>`` followed by a blank line (framed by
``engine.sse.frame``; the google-genai SDK splits lines on ``\\n``, ``\\r\\n`` and ``\\r``
alike, so it reads these as it reads Google's ``\\r\\n`` frames). As on Gemini:

* text / thinking / refusal deltas -> a chunk with one ``text`` part (``thought: true``
  for thinking; refusals are text, Gemini has no refusal part) ;
* a signature -> a chunk with an empty text part carrying ``thoughtSignature``
  (``thought: true`` when it belongs to a thinking part with text) ;
* a tool call is buffered until its ``PartStop`` and sent whole, as Gemini does:
  ``functionCall {name, args, id?}`` (+ ``thoughtSignature`` from the id) ;
* ``StreamEnd`` -> a last chunk with an empty text part, ``finishReason`` and
  ``usageMetadata`` (Gemini streams always carry usage; intermediate chunks omit it).

A tool call whose arguments are not a JSON object when it stops is held until the end:
if the output cap cut it (``length``) it is left out and the stream ends with
``MAX_TOKENS`` (Gemini sends a call whole or not at all, and a client with automatic
function calling would run a half-written one); otherwise the stream ends with the
in-band error naming the call (502), never with a broken chunk.

``StreamStart`` sends nothing (Gemini has no start event); a redacted thinking part is
left out (a Gemini client can neither show nor return it). ``error(err)`` sends the error
envelope in-band, ``data: {"error": {"code", "message", "status"}}``, and nothing
follows it (no finishReason).
"""

from __future__ import annotations

from typing import Any

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
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
)
from engine.errors import GatewayError
from engine.sse import frame
from providers.gemini import usage
from providers.gemini.error_body import error_body
from providers.gemini.part_encoder import arguments_object, tool_call
from providers.gemini.wire import FINISH_FOR_STOP


class GeminiStreamEncoder:
    """Per request; see the module docstring."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = ""
        self._calls: dict[int, tuple[ToolCall, list[str]]] = {}
        self._thinking_text: dict[int, bool] = {}  # thinking index -> has text so far
        self._redacted: set[int] = set()
        self._unfinished: list[ToolCall] = []  # calls whose arguments are no JSON object

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, StreamStart):
            self._id, self._model = event.id, event.model
            return b""
        if isinstance(event, PartStart):
            return self._start(event)
        if isinstance(event, (TextDelta, RefusalDelta)):
            return self._chunk([{"text": event.text}])
        if isinstance(event, ThinkingDelta):
            if event.index in self._redacted or not event.text:
                return b""
            self._thinking_text[event.index] = True
            return self._chunk([{"text": event.text, "thought": True}])
        if isinstance(event, SignatureDelta):
            return self._signature(event)
        if isinstance(event, ToolArgsDelta):
            if event.index in self._calls:
                self._calls[event.index][1].append(event.fragment)
            return b""
        if isinstance(event, PartStop):
            return self._stop(event.index)
        return self._end(event)

    def error(self, err: GatewayError) -> bytes:
        return frame(orjson.dumps(error_body(err)))

    def _start(self, event: PartStart) -> bytes:
        part = event.part
        if isinstance(part, ToolCall):
            self._calls[event.index] = (part, [part.arguments] if part.arguments else [])
        elif isinstance(part, Thinking):
            if part.redacted is not None:
                self._redacted.add(event.index)
                return b""
            self._thinking_text[event.index] = bool(part.text)
            if part.text or part.signature:
                return self._chunk([self._thought_part(part.text, part.signature, bool(part.text))])
        elif part.text:  # TextPart / Refusal arriving with text
            return self._chunk([{"text": part.text}])
        return b""

    def _signature(self, event: SignatureDelta) -> bytes:
        if event.index in self._redacted:
            return b""
        thought = self._thinking_text.get(event.index, False)
        return self._chunk([self._thought_part("", event.signature, thought)])

    @staticmethod
    def _thought_part(text: str, signature: str | None, thought: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"text": text}
        if thought:
            item["thought"] = True
        if signature:
            item["thoughtSignature"] = signature
        return item

    def _stop(self, index: int) -> bytes:
        pending = self._calls.pop(index, None)
        if pending is None:
            return b""
        call, fragments = pending
        whole = ToolCall(call.id, call.name, "".join(fragments))
        if arguments_object(whole) is None:  # cut by the output cap? the end tells
            self._unfinished.append(whole)
            return b""
        return self._chunk([tool_call(whole, "response")])

    def _end(self, event: StreamEnd) -> bytes:
        out = b"".join(self._stop(index) for index in list(self._calls))  # calls never stopped
        if self._unfinished and event.stop_reason != "length":
            call = self._unfinished[0]
            problem = f"arguments of tool call {call.id} ({call.name}) are not a JSON object"
            return out + self.error(
                GatewayError(
                    f"cannot render the response for a Gemini client: {problem}", status=502, kind="upstream_error"
                )
            )
        return out + self._finish(event)

    def _finish(self, event: StreamEnd) -> bytes:
        candidate = {
            "content": {"parts": [{"text": ""}], "role": "model"},
            "finishReason": FINISH_FOR_STOP[event.stop_reason],
            "index": 0,
        }
        return frame(orjson.dumps(self._envelope(candidate) | {"usageMetadata": usage.to_wire(event.usage)}))

    def _chunk(self, parts: list[dict[str, Any]]) -> bytes:
        return frame(orjson.dumps(self._envelope({"content": {"parts": parts, "role": "model"}, "index": 0})))

    def _envelope(self, candidate: dict[str, Any]) -> dict[str, Any]:
        return {"candidates": [candidate], "modelVersion": self._model, "responseId": self._id}
