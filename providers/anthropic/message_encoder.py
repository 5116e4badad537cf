"""Canonical ``Message`` list -> Anthropic request ``messages`` (the upstream side).

* ``tool`` messages are user turns; consecutive user/tool messages merge into one user
  turn and consecutive assistant messages into one assistant turn, so parallel tool
  results always sit in the single user turn right after their ``tool_use`` blocks (what
  the API demands).
* A ``system`` message after the conversation began stays a ``system`` message at its
  position for a model declaring the ``system_messages`` capability; for any other it is a
  user-turn text block marked ``<system>`` ... ``</system>`` there
  (``providers.system_turns``): the Messages API takes ``role: "system"`` mid-conversation
  on Claude Opus 4.8 only and answers 400 on the other models. A system message
  interrupting tool calls and their results moves after the results.
* ``ToolCall.arguments`` is parsed back into the ``input`` object (empty text is ``{}``;
  anything that is not a JSON object is a ``BadRequest``).
* Tool call ids are kept, with characters outside Anthropic's ``[A-Za-z0-9_-]`` replaced
  by ``_`` in both ``tool_use.id`` and ``tool_result.tool_use_id`` so pairs still match.
* ``Thinking`` with a signature is sent back as ``thinking``, a redacted payload as
  ``redacted_thinking``. Thinking *without* a signature (another vendor's reasoning), or
  with a signature another format issued (``Thinking.origin``), is omitted: Anthropic
  rejects unsigned thinking blocks, and it strips earlier turns' thinking from the
  context anyway, so the model sees the same prompt either way.
* Empty text parts are skipped (the API rejects empty text blocks) and so is a message
  left with no blocks. ``Refusal`` history is sent as text.
* Image ``detail``: Anthropic always reads images at full resolution, which honours
  ``auto`` and ``high``; ``low`` cannot be honoured and is an ``UnsupportedFeature``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from engine.canonical import (
    ImagePart,
    Message,
    Part,
    Refusal,
    TextPart,
    Thinking,
    ToolCall,
    ToolResult,
)
from engine.errors import BadRequest, UnsupportedFeature
from providers import system_turns
from providers.anthropic.fields import JsonObject, cache_control
from providers.anthropic.images import source_from_url
from providers.anthropic.wire import FORMAT

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


def safe_tool_id(call_id: str) -> str:
    return _UNSAFE_ID.sub("_", call_id)


def build_messages(messages: list[Message], system_messages: bool = False) -> list[JsonObject]:
    """The ``messages`` array; leading system messages are the caller's to put in ``system``
    (``system_turns.leading``), later ones are ``system`` messages at their position when
    the model takes them (``system_messages``), else marked user text there."""
    out: list[JsonObject] = []
    for i, message in enumerate(system_turns.after_tool_results(messages)):
        path = f"messages.{i}"
        if message.role == "assistant":
            role, blocks = "assistant", [b for p in message.parts if (b := _assistant_block(p, path))]
        elif message.role == "system" and system_messages:
            role, blocks = "system", [b for p in message.parts if (b := _user_block(p, path))]
        elif message.role == "system":
            role, blocks = "user", [b for b in [_user_block(system_turns.marked(message), path)] if b]
        else:
            role, blocks = "user", [b for p in message.parts if (b := _user_block(p, path))]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _assistant_block(part: Part, path: str) -> JsonObject | None:
    return _cached(_assistant_content(part, path), part)


def _user_block(part: Part, path: str) -> JsonObject | None:
    return _cached(_user_content(part, path), part)


def _cached(block: JsonObject | None, part: Part) -> JsonObject | None:
    """``block`` with the part's cache hint as ``cache_control`` (Thinking and Refusal carry none)."""
    cache = getattr(part, "cache", None)
    if block is not None and cache is not None:
        block["cache_control"] = cache_control(cache)
    return block


def _assistant_content(part: Part, path: str) -> JsonObject | None:
    if isinstance(part, (TextPart, Refusal)):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ToolCall):
        return {
            "type": "tool_use",
            "id": safe_tool_id(part.id),
            "name": part.name,
            "input": _tool_input(part, path),
        }
    if isinstance(part, Thinking):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        if part.signature and part.origin in (None, FORMAT):
            return {"type": "thinking", "thinking": part.text, "signature": part.signature}
        return None
    if isinstance(part, ImagePart):
        raise UnsupportedFeature(["image in an assistant message"], "anthropic")
    raise BadRequest(f"{path}: tool results are only allowed in user/tool messages", param=path)


def _user_content(part: Part, path: str) -> JsonObject | None:
    if isinstance(part, (TextPart, Refusal)):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ImagePart):
        return _image(part, path)
    if isinstance(part, ToolResult):
        return _tool_result(part, path)
    kind = "tool calls" if isinstance(part, ToolCall) else "thinking"
    raise BadRequest(f"{path}: {kind} are only allowed in assistant messages", param=path)


def _image(part: ImagePart, path: str) -> JsonObject:
    if part.detail not in (None, "auto", "high"):
        raise UnsupportedFeature([f"image detail '{part.detail}'"], "anthropic")
    return {"type": "image", "source": source_from_url(part.url, path)}


def _tool_input(call: ToolCall, path: str) -> Any:
    if not call.arguments.strip():
        return {}
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise BadRequest(
            f"{path}: arguments of tool call {call.id!r} ({call.name}) are not a JSON object",
            param=path,
        )
    return value


def _tool_result(result: ToolResult, path: str) -> JsonObject:
    block: JsonObject = {"type": "tool_result", "tool_use_id": safe_tool_id(result.call_id)}
    if len(result.content) == 1 and isinstance(result.content[0], TextPart) and result.content[0].cache is None:
        block["content"] = result.content[0].text
    elif result.content:
        content: list[JsonObject] = []
        for item in result.content:
            if isinstance(item, ImagePart):
                inner: JsonObject | None = _image(item, path)
            else:
                inner = {"type": "text", "text": item.text} if item.text else None
            if (block_out := _cached(inner, item)) is not None:
                content.append(block_out)
        block["content"] = content
    if result.is_error:
        block["is_error"] = True
    return block
