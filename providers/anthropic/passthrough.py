"""Same-format forwarding: an Anthropic Messages client's body to an Anthropic upstream.

Nothing is translated, so every field the client sent (``document`` blocks, server tools,
``citations``, ``container``, ``mcp_servers``, future fields...) reaches the upstream and
every field and event the upstream returns reaches the client. Only ``model`` is
rewritten (upstream id out, public id back); channel ``params`` are merged over the body,
``max_tokens`` gets the translated adapter's default when the client sent none, the
client's ``anthropic-version`` / ``anthropic-beta`` headers are forwarded, and
``system``-role messages become the system prompt or marked user text unless the model
declares ``system_messages`` (``system_messages.py``: only Claude Opus 4.8 takes them).

Streams: ``message_start.message.model`` is the only change; every other event (``ping``,
unknown ones) is relayed with its upstream bytes. Usage is ``message_start``'s with each
``message_delta``'s cumulative totals merged over it. An event whose data is not a JSON
object is skipped, not relayed, and counted. A stream that ends without ``message_stop``
after a ``message_delta`` carried the stop reason (with the final usage) is complete: the
client gets a ``message_stop``. ``started`` turns True with the first relayed block that
holds text, thinking or a tool call (a block opened empty does not count; its first
non-empty delta does). Hot path: orjson only, one parse per event and one dump only for
``message_start``; SSE comment lines are not forwarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.canonical import Usage
from engine.errors import GatewayError, UpstreamError
from engine.sse import SSEEvent, SSEParser, frame
from providers.anthropic.adapter import _headers
from providers.anthropic.error_classifier import stream_error
from providers.anthropic.request_encoder import _default_max_tokens
from providers.anthropic.system_messages import without_system_messages
from providers.anthropic.wire import FORMAT, merge_usage, usage_from_wire
from providers.base import Endpoint, UpstreamRequest
from providers.passthrough_wire import event_object, upstream_object

_MESSAGE_STOP = frame(b'{"type":"message_stop"}', "message_stop")
_BETA = "anthropic-beta"
_VERSION = "anthropic-version"


class AnthropicPassthrough:
    format = FORMAT

    def build(
        self, body: dict[str, Any], endpoint: Endpoint, stream: bool, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        out = dict(body if endpoint.system_messages else without_system_messages(body))
        out.update(endpoint.params)
        out["model"] = endpoint.upstream_model
        if out.get("max_tokens") is None:
            out["max_tokens"] = _default_max_tokens(endpoint)
        if stream or "stream" in out:
            out["stream"] = stream  # the executor reads the answer the way the client asked
        url = f"{endpoint.base_url}/messages"
        return UpstreamRequest("POST", url, _forwarded_headers(endpoint, client_headers), orjson.dumps(out))

    def rewrite_response(self, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        """A non-streamed Message with ``model`` set to the public id, and its usage."""
        data = upstream_object(body, "a response")
        if data.get("type") == "error":
            raise stream_error(data)
        data["model"] = public_model
        usage = data.get("usage")
        return orjson.dumps(data), usage_from_wire(usage if isinstance(usage, dict) else {})

    def stream(self, public_model: str, client_wants_usage: bool) -> AnthropicPassthroughStream:
        """``client_wants_usage`` is ignored: Anthropic's events always carry usage."""
        return AnthropicPassthroughStream(public_model)


def _forwarded_headers(endpoint: Endpoint, client_headers: Mapping[str, str]) -> dict[str, str]:
    """The adapter's headers; the client's version and betas unless the channel sets them
    (channel and client betas are joined, without duplicates, channel's first)."""
    headers = _headers(endpoint)
    channel = {name.lower() for name in endpoint.headers}
    if _VERSION in client_headers and _VERSION not in channel:
        headers[_VERSION] = client_headers[_VERSION]
    client_beta = client_headers.get(_BETA)
    if client_beta:
        channel_beta = [headers.pop(name) for name in list(headers) if name.lower() == _BETA]
        betas = (item.strip() for value in (*channel_beta, client_beta) for item in value.split(","))
        headers[_BETA] = ",".join(dict.fromkeys(beta for beta in betas if beta))
    return headers


class AnthropicPassthroughStream:
    """One per streamed response: upstream SSE bytes in, client SSE frames out."""

    __slots__ = (
        "_parser",
        "_model",
        "_usage",
        "_stopping",
        "usage",
        "finished",
        "started",
        "malformed_events",
        "output_chars",
    )

    def __init__(self, public_model: str) -> None:
        self._parser = SSEParser()
        self._model = public_model
        self._usage: dict[str, Any] = {}
        self._stopping = False  # a message_delta carried the stop reason
        self.usage: Usage | None = None
        self.finished = False  # message_stop relayed
        self.started = False
        self.output_chars = 0
        self.malformed_events = 0

    def feed(self, chunk: bytes) -> bytes:
        return self._relay_all(self._parser.feed(chunk), last=False)

    def close(self) -> bytes:
        # A last event without its blank line counts if its JSON is whole (as in the
        # translating decoder), and is relayed.
        out = b"" if self.finished else self._relay_all(self._parser.end(), last=True)
        if not self.finished:
            if not self._stopping:
                raise UpstreamError("stream_cut", "upstream stream ended before its stop reason")
            self.finished = True
            out += _MESSAGE_STOP
        return out

    def error(self, err: GatewayError) -> bytes | None:
        return None  # Anthropic's error event needs nothing from the stream: the codec writes it

    def _relay_all(self, events: list[SSEEvent], *, last: bool) -> bytes:
        """``last``: the event the end of the stream closed; unreadable, it was cut, not malformed."""
        out: list[bytes] = []
        for event in events:
            if self.finished:
                break  # nothing after message_stop
            if not event.data.strip():
                continue  # an empty data line: a keep-alive
            data = event_object(event.data)
            if data is None:
                if not last:
                    self.malformed_events += 1
                continue
            out.append(self._relay(event, data))
        return b"".join(out)

    def _relay(self, event: SSEEvent, data: dict[str, Any]) -> bytes:
        kind = data.get("type", event.event)
        name = event.event or (kind if isinstance(kind, str) else None)
        if kind == "error":
            raise stream_error(data)
        if kind == "message_start":
            message = data.get("message")
            if isinstance(message, dict):
                message["model"] = self._model
                self._meter(message)
            return frame(orjson.dumps(data), name)
        if kind == "message_delta":
            self._meter(data)
            delta = data.get("delta")
            self._stopping = self._stopping or (isinstance(delta, dict) and delta.get("stop_reason") is not None)
        elif kind == "message_stop":
            self.finished = True
        elif kind == "content_block_delta":
            delta = data.get("delta")
            field = _CONTENT.get(str(delta.get("type"))) if isinstance(delta, dict) else None
            value = delta.get(field) if isinstance(delta, dict) and field and field != "signature" else None
            self.output_chars += len(value) if isinstance(value, str) else 0
            self.started = self.started or _carries_token(data)
        elif not self.started and kind == "content_block_start":
            self.started = _carries_token(data)
        payload = event.data
        return frame(orjson.dumps(data) if "\n" in payload else payload, name)

    def _meter(self, obj: dict[str, Any]) -> None:
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self._usage = merge_usage(self._usage, usage)
            self.usage = usage_from_wire(self._usage)


# Where a block or delta holds its output; when that is empty, it is no token yet.
_CONTENT = {
    "text": "text",
    "thinking": "thinking",
    "text_delta": "text",
    "thinking_delta": "thinking",
    "input_json_delta": "partial_json",
    "signature_delta": "signature",
}
_MARKERS = frozenset({"fallback"})  # blocks that say something about the answer, not part of it


def _carries_token(data: dict[str, Any]) -> bool:
    """Whether a ``content_block_start`` / ``_delta`` holds output. Any other kind of block
    (a tool call with its name, redacted thinking, a server tool's result...) or delta
    (citations...) holds output, the fallback marker block excepted."""
    item = data.get("content_block", data.get("delta"))
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    if not isinstance(kind, str) or kind in _MARKERS:
        return False
    field = _CONTENT.get(kind)
    return field is None or bool(item.get(field))
