"""The agent upstream's Anthropic Messages answers, whole and streamed, and its count.

Shapes follow the recorded 2026 streams (``tests/fixtures/conformance/anthropic/``):
``message_start`` (usage with ``output_tokens: 1``), ``content_block_start``, a ``ping``, the
deltas (``text_delta``, or ``input_json_delta`` for a ``tool_use`` block), ``content_block_stop``,
``message_delta`` (stop reason and the final usage), ``message_stop``. Anthropic's
``input_tokens`` excludes cache reads, which it reports as ``cache_read_input_tokens``.
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.support.agent_script import Reply
from tests.support.fault_wire import event


def _usage(reply: Reply, output_tokens: int) -> dict[str, Any]:
    u = reply.usage
    return {
        "input_tokens": u.uncached_input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": u.cached_tokens,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.call is not None else "end_turn"


def _block(reply: Reply, done: bool) -> dict[str, Any]:
    if reply.call is None:
        return {"type": "text", "text": reply.text if done else ""}
    arguments = reply.arguments_object() if done else {}
    return {"type": "tool_use", "id": f"toolu_{reply.ident}", "name": reply.call.name, "input": arguments}


def _message(reply: Reply, done: bool) -> dict[str, Any]:
    return {
        "id": f"msg_{reply.ident}",
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": [_block(reply, True)] if done else [],
        "stop_reason": _stop_reason(reply) if done else None,
        "stop_sequence": None,
        "usage": _usage(reply, reply.usage.output_tokens if done else 1),
    }


def body(reply: Reply) -> bytes:
    return orjson.dumps(_message(reply, True))


def frames(reply: Reply) -> list[bytes]:
    if reply.call is None:
        deltas = [{"type": "text_delta", "text": piece} for piece in reply.pieces]
    else:
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in reply.pieces]
    usage = _usage(reply, reply.usage.output_tokens)
    del usage["cache_creation"], usage["service_tier"]
    return [
        event({"type": "message_start", "message": _message(reply, False)}),
        event({"type": "content_block_start", "index": 0, "content_block": _block(reply, False)}),
        event({"type": "ping"}),
        *(event({"type": "content_block_delta", "index": 0, "delta": d}) for d in deltas),
        event({"type": "content_block_stop", "index": 0}),
        event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                "usage": usage,
            }
        ),
        event({"type": "message_stop"}),
    ]


def count(tokens: int) -> bytes:
    return orjson.dumps({"input_tokens": tokens})


def error_body(status: int, message: str) -> bytes:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_agent"})
