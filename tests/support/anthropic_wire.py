"""Anthropic Messages wire bodies for scripted upstreams: messages, stream events, error
envelopes.

Shapes follow the fixtures in ``tests/fixtures/anthropic``: a ``message`` body like
``recorded-2026/anthropic-text.json``, stream events like ``sdk-fixtures/basic_response.sse``
(``event: <type>`` + ``data:``), error envelopes and the mid-stream ``event: error`` like
``examples/error-bodies-observed.md`` (status -> error type from the API's error docs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

# HTTP status -> Anthropic error type (platform.claude.com/docs/en/api/errors)
ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
REQUEST_ID = "req_011CXxg3eqF8ZMvqtkKHNjKQ"


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """The error envelope of a non-2xx response."""
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": REQUEST_ID}


def status_error_body(status: int) -> dict[str, Any]:
    """The envelope Anthropic sends with ``status`` (``api_error`` for unlisted 5xx)."""
    error_type = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return error_body(error_type, f"scripted upstream error {status}")


def message(text: str, model: str, *, input_tokens: int = 12, output_tokens: int | None = None) -> dict[str, Any]:
    """A complete non-streamed ``message`` with one text block."""
    return {
        "model": model,
        "id": "msg_01VdEjxAP5ahtHKrrRdNBteQ",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": len(text.split()) if output_tokens is None else output_tokens,
            "service_tier": "standard",
        },
    }


def event_frame(payload: Mapping[str, Any]) -> bytes:
    """One SSE event named by its ``type``."""
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_frame(error_type: str, message: str) -> bytes:
    """The in-band ``event: error`` an upstream sends after a 200 (then it closes)."""
    return event_frame({"type": "error", "error": {"details": None, "type": error_type, "message": message}})


def stream_frames(pieces: Sequence[str], model: str, *, input_tokens: int = 11, stop: bool = True) -> list[bytes]:
    """The events of a streamed text answer: ``message_start``, the text block (start, one
    delta per piece, stop), ``message_delta`` and ``message_stop``; with ``stop`` false only
    ``message_start``, the block start and the deltas (a stream cut short)."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    }
    frames = [
        event_frame(start),
        event_frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    frames += [
        event_frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
        for piece in pieces
    ]
    if not stop:
        return frames
    output_tokens = sum(len(p.split()) for p in pieces)
    return [
        *frames,
        event_frame({"type": "content_block_stop", "index": 0}),
        event_frame(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            }
        ),
        event_frame({"type": "message_stop"}),
    ]
