"""Canonical ``ChatResponse`` -> an Anthropic ``Message`` JSON body (the client side).

* ``TextPart`` and ``Refusal`` are ``text`` blocks (Anthropic signals a refusal with
  ``stop_reason: refusal``, which ``content_filter`` also maps to); ``Thinking`` is a
  ``thinking`` block (signature ``""`` when the upstream gave none) or
  ``redacted_thinking``; ``ToolCall`` is ``tool_use`` with ``input`` parsed from the
  arguments (empty text is ``{}``).
* Tool call ids are kept as the upstream made them (``call_...`` from OpenAI, not
  rewritten to ``toolu_...``): clients echo them back in ``tool_result`` and the upstream
  must recognise its own ids.
* Usage follows Anthropic's convention: ``input_tokens`` excludes cache reads/writes.
* An upstream output the format cannot carry is a 502 naming it, never a lost part:
  tool arguments that are not a JSON object, images in the model's output.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import (
    ChatResponse,
    ImagePart,
    Part,
    Refusal,
    TextPart,
    Thinking,
    ToolCall,
)
from engine.errors import GatewayError
from providers.anthropic.fields import JsonObject
from providers.anthropic.wire import STOP_TO_WIRE, usage_to_wire


def encode_message(response: ChatResponse) -> bytes:
    message: JsonObject = {
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": [block_for_part(part) for part in response.parts],
        "stop_reason": STOP_TO_WIRE[response.stop_reason],
        "stop_sequence": response.stop_sequence,
        "usage": usage_to_wire(response.usage),
    }
    return orjson.dumps(message)


def block_for_part(part: Part) -> JsonObject:
    if isinstance(part, (TextPart, Refusal)):
        return {"type": "text", "text": part.text}
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": tool_input(part)}
    if isinstance(part, Thinking):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    what = "an image" if isinstance(part, ImagePart) else "a tool result"
    raise unrepresentable(f"the upstream returned {what}, which Anthropic responses cannot carry")


def tool_input(call: ToolCall) -> Any:
    if not call.arguments.strip():
        return {}
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise unrepresentable(
            f"the upstream returned arguments for tool call {call.id!r} ({call.name}) that are "
            "not a JSON object, which Anthropic's tool_use.input cannot carry"
        )
    return value


def unrepresentable(message: str) -> GatewayError:
    return GatewayError(message, status=502, kind="upstream_error")
