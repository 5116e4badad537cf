"""Anthropic request ``messages`` -> canonical ``Message`` list (the client side).

* A user turn's ``tool_result`` blocks become canonical ``tool`` messages and its other
  blocks ``user`` messages, in their original order: ``[tool_result, tool_result, text]``
  is ``Message("tool", [ToolResult, ToolResult])`` then ``Message("user", [TextPart])``.
  The Anthropic adapter merges them back into one user turn.
* ``tool_use.input`` becomes ``ToolCall.arguments`` as compact JSON text; each
  ``ToolResult`` gets the called tool's ``name`` from the earlier ``tool_use``.
* ``tool_use.id`` and ``tool_result.tool_use_id`` are unwrapped (``tool_ids``): the
  upstream sees the ids it issued, not the ``toolu_`` ids the client was shown.
* A ``system`` message (a mid-conversation system turn) stays a canonical ``system``
  message at its position; it holds text blocks only.
* ``thinking`` / ``redacted_thinking`` become ``Thinking`` with their signature/payload.
* Block-level ``cache_control`` becomes the part's canonical ``cache`` hint (its
  lifetime), which the Anthropic adapter sends on again. ``citations`` (and any key a
  block type does not model) are ignored: citations are output annotations that carry
  no prompt content. Unmodelled block *types* (``document``,
  ``search_result``, server-tool blocks...) are rejected with the block's path.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import (
    ImagePart,
    Message,
    Part,
    Role,
    TextPart,
    Thinking,
    ToolCall,
    ToolResult,
)
from engine.errors import BadRequest
from providers.anthropic import tool_ids
from providers.anthropic.fields import (
    JsonObject,
    as_bool,
    as_list,
    as_object,
    as_str,
    cache_hint,
    join,
    required,
    unsupported_block,
)
from providers.anthropic.images import url_from_source

_ASSISTANT_ONLY = frozenset({"tool_use", "thinking", "redacted_thinking"})
_USER_ONLY = frozenset({"tool_result", "image"})


def decode_messages(value: object) -> list[Message]:
    items = as_list(value, "messages")
    if not items:
        raise BadRequest("messages: at least one message is required", param="messages")
    tool_names: dict[str, str] = {}
    out: list[Message] = []
    for i, raw in enumerate(items):
        path = f"messages.{i}"
        msg = as_object(raw, path)
        role = as_str(required(msg, "role", path), join(path, "role"))
        content = required(msg, "content", path)
        content_path = join(path, "content")
        if role == "assistant":
            out.append(Message("assistant", _assistant_parts(content, content_path, tool_names)))
        elif role == "user":
            out.extend(_user_messages(content, content_path, tool_names))
        elif role == "system":
            out.append(Message("system", _system_parts(content, content_path)))
        else:
            raise BadRequest(
                f"{join(path, 'role')}: must be 'user', 'assistant' or 'system', got {role!r}",
                param=join(path, "role"),
            )
    return out


def _blocks(content: object, path: str) -> list[JsonObject]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    items = as_list(content, path)
    return [as_object(item, join(path, i)) for i, item in enumerate(items)]


def _block_type(block: JsonObject, path: str) -> str:
    return as_str(required(block, "type", path), join(path, "type"))


def _assistant_parts(content: object, path: str, tool_names: dict[str, str]) -> list[Part]:
    parts: list[Part] = []
    for i, block in enumerate(_blocks(content, path)):
        bpath = join(path, i)
        kind = _block_type(block, bpath)
        if kind in _USER_ONLY:
            raise _wrong_role(bpath, kind, "user")
        if kind == "text":
            parts.append(_text(block, bpath))
        elif kind == "tool_use":
            call = _tool_use(block, bpath)
            tool_names[call.id] = call.name
            parts.append(call)
        elif kind == "thinking":
            text = as_str(required(block, "thinking", bpath), join(bpath, "thinking"))
            signature = as_str(required(block, "signature", bpath), join(bpath, "signature"))
            parts.append(Thinking(text=text, signature=signature or None))
        elif kind == "redacted_thinking":
            data = as_str(required(block, "data", bpath), join(bpath, "data"))
            parts.append(Thinking(text="", redacted=data))
        else:
            raise unsupported_block(bpath, kind)
    return parts


def _user_messages(content: object, path: str, tool_names: dict[str, str]) -> list[Message]:
    messages: list[Message] = []
    for i, block in enumerate(_blocks(content, path)):
        bpath = join(path, i)
        kind = _block_type(block, bpath)
        if kind in _ASSISTANT_ONLY:
            raise _wrong_role(bpath, kind, "assistant")
        part: Part
        if kind == "tool_result":
            part = _tool_result(block, bpath, tool_names)
        elif kind == "text":
            part = _text(block, bpath)
        elif kind == "image":
            part = _image(block, bpath)
        else:
            raise unsupported_block(bpath, kind)
        role: Role = "tool" if kind == "tool_result" else "user"
        if messages and messages[-1].role == role:
            messages[-1].parts.append(part)
        else:
            messages.append(Message(role, [part]))
    if not messages:  # an empty content array: keep the (empty) user turn as given
        messages.append(Message("user", []))
    return messages


def _system_parts(content: object, path: str) -> list[Part]:
    parts: list[Part] = []
    for i, block in enumerate(_blocks(content, path)):
        bpath = join(path, i)
        kind = _block_type(block, bpath)
        if kind != "text":
            raise BadRequest(f"{join(bpath, 'type')}: system messages hold only text blocks, got {kind!r}", param=bpath)
        parts.append(_text(block, bpath))
    return parts


def _wrong_role(path: str, kind: str, allowed: str) -> BadRequest:
    return BadRequest(f"{path}: '{kind}' blocks are only allowed in {allowed} messages", param=path)


def _text(block: JsonObject, path: str) -> TextPart:
    return TextPart(as_str(required(block, "text", path), join(path, "text")), cache=cache_hint(block, path))


def _image(block: JsonObject, path: str) -> ImagePart:
    source = url_from_source(required(block, "source", path), join(path, "source"))
    return ImagePart(source, cache=cache_hint(block, path))


def _tool_use(block: JsonObject, path: str) -> ToolCall:
    call_id = tool_ids.from_client(as_str(required(block, "id", path), join(path, "id")))
    name = as_str(required(block, "name", path), join(path, "name"))
    arguments: Any = as_object(required(block, "input", path), join(path, "input"))
    return ToolCall(id=call_id, name=name, arguments=orjson.dumps(arguments).decode(), cache=cache_hint(block, path))


def _tool_result(block: JsonObject, path: str, tool_names: dict[str, str]) -> ToolResult:
    call_id = tool_ids.from_client(as_str(required(block, "tool_use_id", path), join(path, "tool_use_id")))
    is_error = block.get("is_error")
    content_path = join(path, "content")
    raw = block.get("content")
    content: list[TextPart | ImagePart] = []
    if isinstance(raw, str):
        content.append(TextPart(raw))
    elif raw is not None:
        for i, item in enumerate(as_list(raw, content_path)):
            ipath = join(content_path, i)
            inner = as_object(item, ipath)
            kind = _block_type(inner, ipath)
            if kind == "text":
                content.append(_text(inner, ipath))
            elif kind == "image":
                content.append(_image(inner, ipath))
            else:
                raise unsupported_block(ipath, kind)
    return ToolResult(
        call_id=call_id,
        content=content,
        is_error=False if is_error is None else as_bool(is_error, join(path, "is_error")),
        name=tool_names.get(call_id),
        cache=cache_hint(block, path),
    )
