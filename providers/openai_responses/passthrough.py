"""Same-format forwarding: a Responses API client's body to a Responses upstream.

Nothing is translated, so every field the client sent (custom and built-in tools,
``previous_response_id``, ``include``, ``store``, ``input_file`` items, future fields...)
reaches the upstream and every item and event the upstream returns reaches the client.
Only ``model`` is rewritten (upstream id out, public id back: top-level in a response body,
``response.model`` in stream events that carry a response); channel ``params`` are merged
over the body the way ``request_encoder`` merges them.

Streams end at ``response.completed`` / ``response.incomplete`` (usage from its
``response.usage``); ``response.failed`` and ``error`` events raise the ``UpstreamError``
the translated decoder (``stream_decoder``) would raise. Hot path: orjson only, one parse
and one dump per event; SSE comment lines (keep-alives) are not forwarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.canonical import Usage
from engine.errors import GatewayError, UpstreamError
from engine.sse import SSEParser, frame
from providers.base import Endpoint, UpstreamRequest
from providers.openai_responses.adapter import request_headers
from providers.openai_responses.error_body import error_fields, failed_code
from providers.openai_responses.error_classifier import classify_error_event
from providers.openai_responses.response_decoder import failure
from providers.openai_responses.wire import FORMAT, WireError, usage_from_wire
from providers.passthrough_wire import flush_last_event, upstream_object

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

    __slots__ = ("_parser", "_model", "_response", "usage", "finished")

    def __init__(self, public_model: str) -> None:
        self._parser = SSEParser()
        self._model = public_model
        self._response: dict[str, Any] | None = None  # the latest response snapshot relayed
        self.usage: Usage | None = None
        self.finished = False

    def feed(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._parser.feed(chunk):
            if self.finished:
                break
            data = event.data.strip()
            if not data or data == "[DONE]":
                continue
            obj = upstream_object(data, "a stream event")
            kind = obj.get("type")
            if not isinstance(kind, str):
                kind = event.event
            name = event.event or kind
            response = obj.get("response")
            if kind == "error":
                raise classify_error_event(obj)
            if kind == "response.failed":
                raise failure(response if isinstance(response, dict) else {})
            if isinstance(response, dict):
                response["model"] = self._model
                self._response = response
            if kind in _TERMINAL:
                usage = response.get("usage") if isinstance(response, dict) else None
                self.usage = _usage(usage, "event.response.usage")
                self.finished = True
            out.append(frame(orjson.dumps(obj), name))
        return b"".join(out)

    def close(self) -> bytes:
        out = b"" if self.finished else flush_last_event(self._parser, self.feed)
        if not self.finished:
            raise UpstreamError("stream_cut", "upstream stream ended before response.completed")
        return out

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
