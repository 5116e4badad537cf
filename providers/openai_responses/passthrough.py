"""Same-format forwarding: a Responses API client's body to a Responses upstream.

Nothing is translated, so every field the client sent (custom and built-in tools,
``previous_response_id``, ``include``, ``store``, ``input_file`` items, future fields...)
reaches the upstream and every item and event the upstream returns reaches the client.
Only ``model`` is rewritten (upstream id out, public id back: top-level in a response body,
``response.model`` in stream events that carry a response); channel ``params`` are merged
over the body the way ``request_encoder`` merges them.

Streams end at ``response.completed`` / ``response.incomplete`` (usage from its
``response.usage``); ``response.failed`` and ``error`` events raise the ``UpstreamError``
the translated decoder (``stream_decoder``) would raise. The terminal event is the only
end: it carries the status and usage the client waits for, so a stream without it is
``stream_cut`` however complete its items look (see ``stream_decoder``). An event that
cannot be read (not a JSON object, or a terminal event whose usage is unreadable) is
skipped, not relayed, and counted. ``started`` turns True with the first relayed event
carrying output: a non-empty ``*.delta`` (text, refusal, reasoning, arguments...), a
tool-call item (it has its name), a finished output item, or a ``.done`` event holding text
that was never streamed; ``response.created`` / ``in_progress``, an empty message or
reasoning item and an empty content part do not count. Hot path: orjson only, one parse
and one dump per event; SSE comment lines (keep-alives) are not forwarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.canonical import Usage
from engine.errors import GatewayError, UpstreamError
from engine.sse import SSEEvent, SSEParser, frame
from providers.base import Endpoint, UpstreamRequest
from providers.openai_responses.adapter import request_headers
from providers.openai_responses.error_body import error_fields, failed_code
from providers.openai_responses.error_classifier import classify_error_event
from providers.openai_responses.response_decoder import failure
from providers.openai_responses.wire import FORMAT, WireError, usage_from_wire
from providers.passthrough_wire import event_object, upstream_object

_TERMINAL = frozenset({"response.completed", "response.incomplete"})


class ResponsesPassthrough:
    """``Passthrough`` for ``POST /v1/responses`` (see ``providers.base``)."""

    format = FORMAT

    def build(
        self, body: dict[str, Any], endpoint: Endpoint, stream: bool, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        out = dict(body)
        out.update(endpoint.params)
        out["model"] = endpoint.upstream_model
        headers = request_headers(endpoint, stream)
        return UpstreamRequest("POST", f"{endpoint.base_url}/responses", headers, orjson.dumps(out))

    def rewrite_response(self, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        """A non-streamed ``Response`` with ``model`` set to the public id, and its usage."""
        data = upstream_object(body, "a response")
        if data.get("error") is not None or data.get("status") == "failed":
            raise failure(data)
        data["model"] = public_model
        return orjson.dumps(data), _usage(data.get("usage"), "response.usage")

    def stream(self, public_model: str, client_wants_usage: bool) -> ResponsesPassthroughStream:
        return ResponsesPassthroughStream(public_model)


class ResponsesPassthroughStream:
    """One per streamed response: upstream bytes in, client SSE frames out."""

    __slots__ = ("_parser", "_model", "_response", "usage", "finished", "started", "malformed_events", "output_chars")

    def __init__(self, public_model: str) -> None:
        self._parser = SSEParser()
        self._model = public_model
        self._response: dict[str, Any] | None = None  # the latest response snapshot relayed
        self.usage: Usage | None = None
        self.finished = False
        self.started = False
        self.output_chars = 0
        self.malformed_events = 0

    def feed(self, chunk: bytes) -> bytes:
        return self._relay(self._parser.feed(chunk), last=False)

    def close(self) -> bytes:
        out = b"" if self.finished else self._relay(self._parser.end(), last=True)
        if not self.finished:
            raise UpstreamError("stream_cut", "upstream stream ended before response.completed")
        return out

    def _relay(self, events: list[SSEEvent], *, last: bool) -> bytes:
        """``last``: the event the end of the stream closed; unreadable, it was cut, not malformed."""
        out: list[bytes] = []
        for event in events:
            if self.finished:
                break
            data = event.data.strip()
            if not data or data == "[DONE]":
                continue
            obj = event_object(data)
            relayed = None if obj is None else self._event(event, obj)
            if relayed is None:
                if not last:
                    self.malformed_events += 1
                continue
            out.append(relayed)
        return b"".join(out)

    def _event(self, event: SSEEvent, obj: dict[str, Any]) -> bytes | None:
        """The frame for the client; None for an event that cannot be read."""
        kind = obj.get("type")
        if not isinstance(kind, str):
            kind = event.event
        response = obj.get("response")
        if kind == "error":
            raise classify_error_event(obj)
        if kind == "response.failed":
            raise failure(response if isinstance(response, dict) else {})
        if kind in _TERMINAL:
            usage = _readable_usage(response.get("usage") if isinstance(response, dict) else None)
            if usage is None:
                return None
            self.usage = usage
            self.finished = True
        if isinstance(response, dict):
            response["model"] = self._model
            self._response = response
        self.started = self.started or _carries_token(kind, obj)
        if kind is not None and kind.endswith(".delta"):
            delta = obj.get("delta")
            self.output_chars += len(delta) if isinstance(delta, str) else 0
        return frame(orjson.dumps(obj), event.event or kind)

    def error(self, err: GatewayError) -> bytes | None:
        """``error``, then ``response.failed`` carrying the response the client has seen
        (its id, created_at, output so far) with status ``failed``."""
        fields = error_fields(err)
        event = {"type": "error", **{k: fields[k] for k in ("code", "message", "param")}, "error": fields}
        out = [frame(orjson.dumps(event), "error")]
        if self._response is not None:
            reason = {"code": failed_code(err), "message": err.message}
            failed = {**self._response, "status": "failed", "error": reason}
            out.append(frame(orjson.dumps({"type": "response.failed", "response": failed}), "response.failed"))
        return b"".join(out)


def _usage(value: Any, path: str) -> Usage:
    try:
        return usage_from_wire(value, path)
    except WireError as exc:
        raise UpstreamError("server", f"malformed upstream usage: {exc}") from exc


def _readable_usage(value: Any) -> Usage | None:
    """A terminal event's usage; None when it cannot be read."""
    try:
        return usage_from_wire(value, "event.response.usage")
    except WireError:
        return None


_NO_OUTPUT_ITEMS = frozenset({"message", "reasoning", "mcp_list_tools"})  # open empty, or are not model output
_DONE_TEXT = {
    "response.output_text.done": "text",
    "response.refusal.done": "refusal",
    "response.function_call_arguments.done": "arguments",
    "response.reasoning_summary_text.done": "text",
    "response.reasoning_text.done": "text",
}


def _carries_token(kind: str | None, obj: dict[str, Any]) -> bool:
    """Whether a relayed event holds model output (see the module docstring)."""
    if kind is None:
        return False
    if kind.endswith(".delta") or kind == "response.image_generation_call.partial_image":
        return bool(obj.get("delta") or obj.get("partial_image_b64"))
    if kind == "response.output_item.added":
        item = obj.get("item")
        return isinstance(item, dict) and item.get("type") not in _NO_OUTPUT_ITEMS
    if kind == "response.output_item.done":
        item = obj.get("item")
        return isinstance(item, dict) and item.get("type") != "mcp_list_tools"
    field = _DONE_TEXT.get(kind)
    return field is not None and bool(obj.get(field))
