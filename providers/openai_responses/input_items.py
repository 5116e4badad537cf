"""A Responses request's ``input`` (a string or a list of items) as canonical messages.

Mapping:

* ``message`` items with role ``system``/``developer`` opening the list become
  ``ChatRequest.system`` (the system prompt); later ones (Codex's mid-conversation
  developer instructions) become ``system`` messages at their position, which each
  encoder carries as ``providers.system_turns`` says.
* ``user`` messages become user messages (``input_text``, ``input_image`` by URL).
* Consecutive assistant-side items (assistant ``message``, ``function_call``,
  ``reasoning``) become one assistant message whose parts keep the item order.
* Each ``function_call_output`` becomes one ``tool`` message holding one ``ToolResult``.
* A ``function_call`` into a ``namespace`` and a ``custom_tool_call`` become calls of their
  flat function tools (``client_tools``); a ``custom_tool_call_output`` is a tool result.
* ``reasoning``: summary texts joined by a blank line (the raw ``content`` texts when
  there is no summary) become ``Thinking.text``; ``encrypted_content`` becomes the
  signature, with the format that issued it as ``Thinking.origin`` (see ``wire``). An
  item with neither carries nothing and is skipped.

Accepted and ignored, because they only matter to a stateful server: item ``id`` and
``status``, a message's ``phase``, ``annotations``/``logprobs`` on earlier output text.
Anything else the canonical model cannot hold (file inputs, ``file_id`` images,
``item_reference``, hosted-tool call items, unknown keys) is refused
with ``BadRequest`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
from engine.errors import BadRequest, NoCanonicalForm
from providers.openai_responses.client_tools import custom_arguments, flat_name
from providers.openai_responses.wire import (
    JSONObject,
    as_list,
    as_object,
    opt_str,
    req_str,
    thinking_state,
)

_IGNORED_KEYS = frozenset({"id", "status", "phase"})
_ITEM_KEYS: dict[str, frozenset[str]] = {
    "message": frozenset({"type", "role", "content"}),
    "function_call": frozenset({"type", "call_id", "name", "arguments", "namespace"}),
    "function_call_output": frozenset({"type", "call_id", "output"}),
    "custom_tool_call": frozenset({"type", "call_id", "name", "input"}),
    "custom_tool_call_output": frozenset({"type", "call_id", "output"}),
    "reasoning": frozenset({"type", "summary", "content", "encrypted_content"}),
}
_PART_KEYS: dict[str, frozenset[str]] = {
    "input_text": frozenset({"type", "text"}),
    "output_text": frozenset({"type", "text", "annotations", "logprobs"}),
    "refusal": frozenset({"type", "refusal"}),
    "input_image": frozenset({"type", "image_url", "file_id", "detail"}),
}
_SYSTEM_ROLES = frozenset({"system", "developer"})


@dataclass(slots=True)
class Conversation:
    system: list[TextPart] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


def decode_input(value: Any) -> Conversation:
    """``input`` as system parts and messages. Raises ``BadRequest``."""
    conv = Conversation()
    if isinstance(value, str):
        conv.messages.append(Message("user", [TextPart(value)]))
        return conv
    if not isinstance(value, list):
        raise BadRequest("input must be a string or an array of items", param="input")
    assistant: list[Part] = []

    def flush_assistant() -> None:
        if assistant:
            conv.messages.append(Message("assistant", list(assistant)))
            assistant.clear()

    for i, raw in enumerate(value):
        path = f"input[{i}]"
        item = as_object(raw, path)
        kind = item.get("type", "message" if "role" in item else None)
        if not isinstance(kind, str):
            raise BadRequest(f"{path} needs a type (or a role for a message)", param="input")
        _check_keys(item, kind, path)
        if kind == "message":
            role = req_str(item, "role", path)
            if role == "assistant":
                assistant.extend(_content_parts(item.get("content"), "assistant", f"{path}.content"))
                continue
            flush_assistant()
            parts = _content_parts(item.get("content"), role, f"{path}.content")
            if role in _SYSTEM_ROLES and not conv.messages:
                conv.system.extend(p for p in parts if isinstance(p, TextPart))
            elif role in _SYSTEM_ROLES:
                conv.messages.append(Message("system", [p for p in parts if isinstance(p, TextPart)]))
            elif role == "user":
                conv.messages.append(Message("user", parts))
            else:
                raise BadRequest(
                    f"{path}.role '{role}' is not one of user, assistant, system, developer", param="input"
                )
        elif kind == "function_call":
            name, namespace = req_str(item, "name", path), opt_str(item, "namespace", path)
            name = flat_name(name, namespace) if namespace else name  # a plain function keeps its name
            assistant.append(
                ToolCall(id=req_str(item, "call_id", path), name=name, arguments=req_str(item, "arguments", path))
            )
        elif kind == "custom_tool_call":
            arguments = custom_arguments(req_str(item, "input", path))
            assistant.append(
                ToolCall(
                    id=req_str(item, "call_id", path), name=flat_name(req_str(item, "name", path)), arguments=arguments
                )
            )
        elif kind == "reasoning":
            thinking = _reasoning(item, path)
            if thinking is not None:
                assistant.append(thinking)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            flush_assistant()
            result = ToolResult(call_id=req_str(item, "call_id", path), content=_tool_output(item.get("output"), path))
            conv.messages.append(Message("tool", [result]))
        else:
            raise _untranslatable_item(kind, path)
    flush_assistant()
    return conv


def _check_keys(obj: JSONObject, kind: str, path: str) -> None:
    allowed = _ITEM_KEYS.get(kind)
    if allowed is None:
        return
    for key in obj:
        if key not in allowed and key not in _IGNORED_KEYS:
            raise NoCanonicalForm(f"{path}.{key} is not supported by this gateway", param="input")


def _untranslatable_item(kind: str, path: str) -> BadRequest:
    if kind == "item_reference":
        why = "it refers to state stored by OpenAI, and this gateway is stateless"
    else:
        why = (
            "the gateway translates only message, function_call, function_call_output, custom_tool_call, "
            "custom_tool_call_output and reasoning items"
        )
    return NoCanonicalForm(f"{path} has type '{kind}', which is not supported: {why}", param="input")


def _content_parts(content: Any, role: str, path: str) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    parts: list[Part] = []
    for j, raw in enumerate(as_list(content, path)):
        ppath = f"{path}[{j}]"
        part = as_object(raw, ppath)
        kind = req_str(part, "type", ppath)
        _check_part_keys(part, kind, ppath)
        if kind in ("input_text", "output_text"):
            parts.append(TextPart(req_str(part, "text", ppath)))
        elif kind == "refusal":
            if role != "assistant":
                raise BadRequest(f"{ppath}: refusal parts belong to assistant messages", param="input")
            parts.append(Refusal(req_str(part, "refusal", ppath)))
        else:
            if role != "user":
                raise BadRequest(f"{ppath}: images are only accepted in user messages", param="input")
            parts.append(_image(part, ppath))
    if role in _SYSTEM_ROLES and any(not isinstance(p, TextPart) for p in parts):
        raise BadRequest(f"{path}: system and developer messages may only hold text", param="input")
    return parts


def _check_part_keys(part: JSONObject, kind: str, path: str) -> None:
    allowed = _PART_KEYS.get(kind)
    if allowed is None:
        raise NoCanonicalForm(f"{path} has type '{kind}', which this gateway cannot translate", param="input")
    for key in part:
        if key not in allowed:
            raise NoCanonicalForm(f"{path}.{key} is not supported by this gateway", param="input")


def _image(part: JSONObject, path: str) -> ImagePart:
    url = opt_str(part, "image_url", path)
    if url is None:
        if part.get("file_id") is not None:
            raise BadRequest(
                f"{path}.file_id: images by file id need OpenAI file storage, which this gateway "
                "does not provide; send image_url (https or data URL) instead",
                param="input",
            )
        raise BadRequest(f"{path} needs an image_url", param="input")
    return ImagePart(url=url, detail=opt_str(part, "detail", path))


def _reasoning(item: JSONObject, path: str) -> Thinking | None:
    texts = _texts(item.get("summary"), "summary_text", f"{path}.summary")
    if not texts:
        texts = _texts(item.get("content"), "reasoning_text", f"{path}.content")
    signature, redacted, origin = thinking_state(opt_str(item, "encrypted_content", path))
    text = "\n\n".join(texts)
    if not text and signature is None and redacted is None:
        return None
    return Thinking(text=text, signature=signature, redacted=redacted, origin=origin)


def _texts(value: Any, kind: str, path: str) -> list[str]:
    if value is None:
        return []
    out: list[str] = []
    for j, raw in enumerate(as_list(value, path)):
        part = as_object(raw, f"{path}[{j}]")
        if part.get("type") != kind:
            raise BadRequest(f"{path}[{j}].type must be '{kind}'", param="input")
        out.append(req_str(part, "text", f"{path}[{j}]"))
    return out


def _tool_output(value: Any, path: str) -> list[TextPart | ImagePart]:
    if isinstance(value, str):
        return [TextPart(value)]
    out: list[TextPart | ImagePart] = []
    for j, raw in enumerate(as_list(value, f"{path}.output")):
        ppath = f"{path}.output[{j}]"
        part = as_object(raw, ppath)
        kind = req_str(part, "type", ppath)
        if kind not in ("input_text", "input_image"):
            raise NoCanonicalForm(f"{ppath} has type '{kind}', which this gateway cannot translate", param="input")
        _check_part_keys(part, kind, ppath)
        if kind == "input_text":
            out.append(TextPart(req_str(part, "text", ppath)))
        else:
            out.append(_image(part, ppath))
    return out
