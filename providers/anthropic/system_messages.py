"""An Anthropic client's ``system``-role messages, passed through to a model that refuses them.

Claude Code sends its environment and later reminders as ``{"role": "system"}`` messages
when it believes the model takes them (Claude Opus 4.8, and any id it does not know, such
as a gateway alias). Only Opus 4.8 does; the other models answer 400. So the passthrough to
a model without the ``system_messages`` capability rewrites them the way the translated
path carries them (``providers.system_turns``):

* system messages before the first other message join the top-level ``system``;
* a later one becomes a user message at its position holding one text block marked
  ``<system>`` ... ``</system>`` (its last block's ``cache_control`` kept; the API merges
  consecutive user turns), moved after the user turn with the tool results when it sits
  between a ``tool_use`` turn and those results.

Everything else is untouched; a body without system messages is returned as it came. A
system message holding anything but text blocks is left as sent (the decoder refuses it).
"""

from __future__ import annotations

from typing import Any

from providers import system_turns

JsonObject = dict[str, Any]


def without_system_messages(body: JsonObject) -> JsonObject:
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(_texts(m) is not None for m in messages):
        return body
    out = dict(body)
    start = 0
    leading: list[JsonObject] = []
    while start < len(messages) and (blocks := _texts(messages[start])) is not None:
        leading.extend(blocks)
        start += 1
    if leading:
        out["system"] = [*_system_blocks(body.get("system")), *leading]
    out["messages"] = _in_place(messages[start:])
    return out


def _in_place(messages: list[Any]) -> list[Any]:
    rewritten: list[Any] = []
    held: list[JsonObject] = []
    awaiting_results = False
    for message in messages:
        blocks = _texts(message)
        if blocks is not None:
            (held if awaiting_results else rewritten).append(_marked(blocks))
            continue
        rewritten.append(message)
        rewritten.extend(held)
        held.clear()
        awaiting_results = _role(message) == "assistant" and _has_tool_use(message)
    rewritten.extend(held)
    return rewritten


def _role(message: Any) -> object:
    return message.get("role") if isinstance(message, dict) else None


def _texts(message: Any) -> list[JsonObject] | None:
    """A system message's text blocks; None for any other message."""
    if _role(message) != "system":
        return None
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        return list(content)
    return None


def _has_tool_use(message: JsonObject) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)


def _marked(blocks: list[JsonObject]) -> JsonObject:
    text = "\n\n".join(str(block.get("text", "")) for block in blocks)
    block: JsonObject = {"type": "text", "text": system_turns.OPEN_MARK + text + system_turns.CLOSE_MARK}
    if blocks and "cache_control" in blocks[-1]:
        block["cache_control"] = blocks[-1]["cache_control"]
    return {"role": "user", "content": [block]}


def _system_blocks(system: Any) -> list[Any]:
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system else []
    return list(system) if isinstance(system, list) else []
