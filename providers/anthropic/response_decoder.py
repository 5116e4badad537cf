"""An Anthropic ``Message`` JSON response -> canonical ``ChatResponse`` (the upstream side).

Content blocks: ``text`` -> ``TextPart``, ``tool_use`` -> ``ToolCall`` (``input`` as JSON
text), ``thinking`` -> ``Thinking`` with its signature, ``redacted_thinking`` ->
``Thinking(redacted=...)``. Blocks the canonical model cannot carry -- server-tool calls
and results (``server_tool_use``, ``web_search_tool_result``...), ``fallback`` and
``compaction`` markers -- are skipped, as are ``citations`` on text and ``stop_details``;
the text the model wrote around them is kept. Anthropic responses have no timestamp, so
``created`` is supplied by the caller.
"""

from __future__ import annotations

import orjson

from engine.canonical import ChatResponse, Part, TextPart, Thinking, ToolCall
from engine.errors import UpstreamError
from providers.anthropic.error_classifier import stream_error
from providers.anthropic.fields import JsonObject
from providers.anthropic.wire import stop_from_wire, usage_from_wire


def decode_message(body: bytes, created: int) -> ChatResponse:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError("server", f"anthropic returned a non-JSON response: {exc}") from None
    if not isinstance(data, dict):
        raise UpstreamError("server", "anthropic returned a response that is not an object")
    if data.get("type") == "error":
        raise stream_error(data)
    content = data.get("content")
    if not isinstance(content, list):
        raise UpstreamError("server", "anthropic response has no content array")
    parts = [part for block in content if isinstance(block, dict) and (part := part_from_block(block))]
    usage = data.get("usage")
    stop_sequence = data.get("stop_sequence")
    return ChatResponse(
        id=_text(data, "id"),
        model=_text(data, "model"),
        parts=parts,
        stop_reason=stop_from_wire(data.get("stop_reason")),
        usage=usage_from_wire(usage if isinstance(usage, dict) else {}),
        created=created,
        stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
    )


def part_from_block(block: JsonObject) -> Part | None:
    """A complete content block as a canonical part; ``None`` for unmodelled types."""
    kind = block.get("type")
    if kind == "text":
        return TextPart(_text(block, "text"))
    if kind == "tool_use":
        arguments = block.get("input")
        return ToolCall(
            id=_text(block, "id"),
            name=_text(block, "name"),
            arguments=orjson.dumps(arguments if isinstance(arguments, dict) else {}).decode(),
        )
    if kind == "thinking":
        return Thinking(text=_text(block, "thinking"), signature=_text(block, "signature") or None)
    if kind == "redacted_thinking":
        return Thinking(text="", redacted=_text(block, "data"))
    return None


def _text(obj: JsonObject, key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""
