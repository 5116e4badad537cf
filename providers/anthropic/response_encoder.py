"""Canonical ``ChatResponse`` -> an Anthropic ``Message`` JSON body (the client side).

* ``TextPart`` and ``Refusal`` are ``text`` blocks (Anthropic signals a refusal with
  ``stop_reason: refusal``, which ``content_filter`` also maps to); ``Thinking`` is a
  ``thinking`` block (signature ``""`` when the upstream gave none) or
  ``redacted_thinking``; ``ToolCall`` is ``tool_use`` with ``input`` parsed from the
  arguments (empty text is ``{}``). When the output cap cut a call short (stop reason
  ``length``, arguments ending mid-JSON), ``input`` is what the arguments held so far
  (``partial_json``), as Anthropic's own API shows a ``max_tokens`` cut in a tool call.
* Tool call ids start with ``toolu_`` whoever issued them (``tool_ids``: ``call_abc``
  from OpenAI is shown as ``toolu_tr_call_abc``); the request decoder unwraps them when
  the client echoes them back, so the upstream recognises its own ids.
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
from providers.anthropic import tool_ids
from providers.anthropic.fields import JsonObject
from providers.anthropic.wire import STOP_TO_WIRE, usage_to_wire
from providers.partial_json import complete_prefix


def encode_message(response: ChatResponse) -> bytes:
    message: JsonObject = {
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": [block_for_part(part, cut=response.stop_reason == "length") for part in response.parts],
        "stop_reason": STOP_TO_WIRE[response.stop_reason],
        "stop_sequence": response.stop_sequence,
        "usage": usage_to_wire(response.usage),
    }
    return orjson.dumps(message)


def block_for_part(part: Part, *, cut: bool = False) -> JsonObject:
    """``cut``: the answer stopped at the output cap (a tool call may be unfinished)."""
    if isinstance(part, (TextPart, Refusal)):
        return {"type": "text", "text": part.text}
    if isinstance(part, ToolCall):
        block_id = tool_ids.to_client(part.id)
        return {"type": "tool_use", "id": block_id, "name": part.name, "input": tool_input(part, cut=cut)}
    if isinstance(part, Thinking):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    what = "an image" if isinstance(part, ImagePart) else "a tool result"
    raise unrepresentable(f"the upstream returned {what}, which Anthropic responses cannot carry")


def tool_input(call: ToolCall, *, cut: bool = False) -> Any:
    if not call.arguments.strip():
        return {}
    value = complete_prefix(call.arguments) if cut else _object(call.arguments)
    if not isinstance(value, dict):
        raise unrepresentable(
            f"the upstream returned arguments for tool call {call.id!r} ({call.name}) that are "
            "not a JSON object, which Anthropic's tool_use.input cannot carry"
        )
    return value


def _object(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def unrepresentable(message: str) -> GatewayError:
    return GatewayError(message, status=502, kind="upstream_error")
