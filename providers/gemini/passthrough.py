"""Same-format forwarding: a Gemini ``generateContent`` client's body to a Gemini upstream.

Nothing is translated, so every field the client sent (``fileData``, ``executableCode``,
``googleSearch`` / ``codeExecution`` tools, ``cachedContent``, ``safetySettings``, future
fields...) reaches the upstream and every field it returns (``groundingMetadata``,
``citationMetadata``, ``safetyRatings``...) reaches the client. Only the model changes:
the upstream id goes in the URL path (a body ``model`` is dropped: Gemini reads the path),
and ``modelVersion`` is always set to the public id on the way back, even when the
upstream sent none. Channel ``params`` are merged as the translated adapter merges them.

Streams: each ``data:`` chunk is relayed as ``data: <json>\\n\\n`` (our Gemini client
framing); usage is the latest ``usageMetadata`` with counts (Gemini repeats the running
totals); the stream is complete once a candidate carried ``finishReason`` (or a blocked
prompt's ``promptFeedback.blockReason`` came), and later chunks are still relayed. Gemini
has no terminator beyond that, so nothing is added at the end. A chunk that cannot be
read (not a JSON object, or a ``usageMetadata`` that is not one with integer counts) is
skipped, not relayed, and counted. ``started`` turns True with the first relayed chunk
whose candidate has a part with text (thought or answer), a function call or other data.
Hot path: orjson only, one parse and one dump per chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.canonical import Usage
from engine.errors import GatewayError, UpstreamError
from engine.sse import SSEEvent, SSEParser, frame
from providers.base import Endpoint, UpstreamRequest
from providers.gemini import usage as gemini_usage
from providers.gemini.adapter import request_headers, request_url
from providers.gemini.error_classifier import classify_object
from providers.gemini.fields import JsonObject, bad_upstream, camel, snake
from providers.gemini.request_encoder import _TOP_LEVEL_PARAMS
from providers.gemini.wire import FORMAT
from providers.passthrough_wire import event_object, upstream_object


class GeminiPassthrough:
    """``Passthrough`` for Gemini ``generateContent`` (see ``providers.base``)."""

    format = FORMAT

    def build(
        self, body: dict[str, Any], endpoint: Endpoint, stream: bool, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        """``client_headers`` are not forwarded: the channel's key and headers are used."""
        out = dict(body)
        out.pop("model", None)
        for key, value in endpoint.params.items():
            if camel(key) in _TOP_LEVEL_PARAMS:
                _override(out, key, value)
            else:
                _override(out, "generationConfig", {key: value})
        return UpstreamRequest("POST", request_url(endpoint, stream), request_headers(endpoint), orjson.dumps(out))

    def rewrite_response(self, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        """A non-streamed response with ``modelVersion`` set to the public id, and its usage."""
        data, usage = _rewrite(upstream_object(body, "a Gemini response"), public_model)
        return orjson.dumps(data), usage or Usage()

    def stream(self, public_model: str, client_wants_usage: bool) -> GeminiPassthroughStream:
        """``client_wants_usage`` is ignored: Gemini chunks always carry usage."""
        return GeminiPassthroughStream(public_model)


def _override(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` (under the spelling ``target`` already uses), objects merged key by key
    into copies so the client's parsed body is never mutated."""
    name = next((n for n in (key, camel(key), snake(key)) if n in target), key)
    current = target.get(name)
    if isinstance(current, dict) and isinstance(value, dict):
        merged = dict(current)
        for k, v in value.items():
            _override(merged, k, v)
        target[name] = merged
    else:
        target[name] = value


def _rewrite(data: dict[str, Any], public_model: str) -> tuple[dict[str, Any], Usage | None]:
    """``modelVersion`` set, and the usage if it has counts; an ``error`` object raised."""
    if isinstance(data.get("error"), dict):
        raise classify_object(data["error"], 200)
    data["modelVersion"] = public_model
    return data, _usage(data)


def _usage(data: dict[str, Any]) -> Usage | None:
    """``usageMetadata`` when it has counts; ``UpstreamError`` when it cannot be read."""
    meta = data.get("usageMetadata")
    if meta is None:
        return None
    wire = JsonObject.of(meta, "usageMetadata", bad_upstream)
    return gemini_usage.from_wire(wire) if gemini_usage.has_counts(wire) else None


def _finished(data: dict[str, Any]) -> bool:
    candidates = data.get("candidates")
    if isinstance(candidates, list) and candidates:
        return any(isinstance(c, dict) and c.get("finishReason") for c in candidates)
    feedback = data.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


_OUTPUT = ("text", "functionCall", "inlineData", "fileData", "executableCode", "codeExecutionResult")


def _carries_token(data: dict[str, Any]) -> bool:
    """Whether a candidate of the chunk has a part holding output (empty text does not)."""
    candidates = data.get("candidates")
    for cand in candidates if isinstance(candidates, list) else ():
        content = cand.get("content") if isinstance(cand, dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict) and any(part.get(kind) for kind in _OUTPUT):
                return True
    return False


class GeminiPassthroughStream:
    """One per streamed response: upstream ``alt=sse`` bytes in, client SSE frames out."""

    __slots__ = ("_parser", "_model", "usage", "finished", "started", "malformed_events", "output_chars")

    def __init__(self, public_model: str) -> None:
        self._parser = SSEParser()
        self._model = public_model
        self.usage: Usage | None = None
        self.finished = False  # a finishReason (or a blocked prompt) came
        self.started = False
        self.output_chars = 0
        self.malformed_events = 0

    def feed(self, chunk: bytes) -> bytes:
        return self._relay_all(self._parser.feed(chunk), last=False)

    def close(self) -> bytes:
        """The frame of a last chunk sent without its blank line (a chunk cut short is
        ``stream_cut`` unless the finishReason came before it), then ``stream_cut``
        unless a finishReason came."""
        tail = self._relay_all(self._parser.end(), last=True)
        if not self.finished:
            raise UpstreamError("stream_cut", "Gemini stream ended without a finishReason")
        return tail

    def error(self, err: GatewayError) -> None:
        """None: the Gemini client codec writes the error envelope; it needs nothing relayed."""
        return None

    def _relay_all(self, events: list[SSEEvent], *, last: bool) -> bytes:
        """``last``: the event the end of the stream closed; unreadable, it was cut, not malformed."""
        out: list[bytes] = []
        for event in events:
            if not event.data.strip():
                continue
            data = event_object(event.data)
            relayed = None if data is None else self._relay(data)
            if relayed is None:
                if not last:
                    self.malformed_events += 1
                continue
            out.append(relayed)
        return b"".join(out)

    def _relay(self, data: dict[str, Any]) -> bytes | None:
        """The chunk's frame; None when it cannot be read."""
        if isinstance(data.get("error"), dict):
            raise classify_object(data["error"], 200)
        try:
            usage = _usage(data)
        except UpstreamError:
            return None
        data["modelVersion"] = self._model
        if usage is not None:
            self.usage = usage
        self.finished = self.finished or _finished(data)
        self.started = self.started or _carries_token(data)
        self.output_chars += _output_chars(data)
        return frame(orjson.dumps(data))


def _output_chars(data: dict[str, Any]) -> int:
    """Characters of output in a chunk's first candidate: text and function-call arguments."""
    candidates = data.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    content = first.get("content") if isinstance(first, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    chars = 0
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str):
            chars += len(text)
        call = part.get("functionCall")
        if isinstance(call, dict) and isinstance(call.get("args"), dict):
            chars += len(orjson.dumps(call["args"]))
    return chars
