"""The conversation of a model request, read the same way from all four wire formats.

``read_conversation(fmt, body)`` turns an OpenAI chat, OpenAI Responses, Anthropic Messages or
Gemini request body into a ``Conversation``: the declared tool names, the system text, and the
conversation items in order, each of one normalised kind:

``system`` ``developer`` ``user`` ``assistant`` ``tool-call`` ``tool-result``

A message holding text and tool blocks becomes several items in block order (an Anthropic user
message ``[tool_result, text]`` is ``tool-result, user``; an assistant message with text and a
call is ``assistant, tool-call``). Reasoning (Responses ``reasoning`` items, Anthropic
``thinking`` blocks, Gemini ``thought`` parts) is not listed. A Responses item of any other type
keeps its type as its kind (``web_search_call``), so nothing disappears unseen. The tools of
a Responses ``namespace`` tool are listed as ``<namespace>__<name>`` (how gateways flatten
them for other formats); the namespace itself is not listed, nor are unnamed built-in tools
(``web_search``). The top-level
system prompt (Responses ``instructions``, Anthropic ``system``, Gemini ``systemInstruction``) is
not an item; ``system_text`` joins it with the text of the system and developer items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

Format = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]
FORMATS: tuple[Format, ...] = ("openai-chat", "openai-responses", "anthropic", "gemini")

CALL_ITEMS = {"function_call", "custom_tool_call", "local_shell_call", "tool_search_call", "mcp_call"}
RESULT_ITEMS = {"function_call_output", "custom_tool_call_output", "local_shell_call_output", "tool_search_output"}
RESULT_KEYS = ("output", "result", "content", "error")


@dataclass(frozen=True, slots=True)
class Item:
    """One conversation item: its kind, its text, and for calls and results the tool's name
    (when the wire names it) and the call id (when the wire has one)."""

    kind: str
    text: str = ""
    name: str | None = None
    call_id: str | None = None
    arguments: Any = None  # a tool call's arguments as sent (a JSON string, an object, or free-form input)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str  # a Responses namespace's tool as ``<namespace>__<name>``, the flat name gateways use
    custom: bool = False  # a Responses free-form (``custom``) tool: its call carries raw ``input`` text
    namespace: str | None = None  # the Responses namespace holding it (its call names both)
    bare_name: str | None = None  # its own name inside that namespace


@dataclass(frozen=True, slots=True)
class Conversation:
    tools: tuple[Tool, ...]
    items: tuple[Item, ...]
    system_text: str

    @property
    def tool_names(self) -> list[str]:
        return [t.name for t in self.tools]

    @property
    def roles(self) -> list[str]:
        return [i.kind for i in self.items]

    @property
    def tool_results(self) -> list[str]:
        return [i.text for i in self.items if i.kind == "tool-result"]

    @property
    def tool_calls(self) -> list[Item]:
        return [i for i in self.items if i.kind == "tool-call"]

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)


EMPTY = Conversation((), (), "")


def read_conversation(fmt: Format, body: Any) -> Conversation:
    """The conversation of a request body (``EMPTY`` when the body is not a JSON object)."""
    if not isinstance(body, dict):
        return EMPTY
    if fmt == "openai-chat":
        return _chat(body)
    if fmt == "openai-responses":
        return _responses(body)
    if fmt == "anthropic":
        return _anthropic(body)
    return _gemini(body)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def text_of(content: Any) -> str:
    """A string, or the texts of a list of content parts (any part with a string ``text``) joined."""
    if isinstance(content, str):
        return content
    return "".join(t for p in _list(content) if (t := _str(_dict(p).get("text"))) is not None)


def _system(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)


# -- OpenAI chat completions ----------------------------------------------------------


def _chat(body: dict[str, Any]) -> Conversation:
    tools = []
    for raw in _list(body.get("tools")):
        tool = _dict(raw)
        kind = tool.get("type", "function")
        name = _str(_dict(tool.get(kind)).get("name")) if isinstance(kind, str) else None
        if name is not None:
            tools.append(Tool(name, custom=kind == "custom"))
    items: list[Item] = []
    for raw in _list(body.get("messages")):
        message = _dict(raw)
        role = str(message.get("role", ""))
        text = text_of(message.get("content"))
        if role in ("tool", "function"):
            items.append(Item("tool-result", text, _str(message.get("name")), _str(message.get("tool_call_id"))))
            continue
        calls = _list(message.get("tool_calls"))
        if text or not calls:
            items.append(Item(role, text))
        for call in map(_dict, calls):
            fn = _dict(call.get("function") or call.get("custom"))
            args = fn.get("arguments", fn.get("input"))
            items.append(Item("tool-call", "", _str(fn.get("name")), _str(call.get("id")), args))
    system = [i.text for i in items if i.kind in ("system", "developer")]
    return Conversation(tuple(tools), tuple(items), _system(*system))


# -- OpenAI Responses -----------------------------------------------------------------


def flat_name(name: str | None, namespace: str | None) -> str | None:
    """A Responses tool's name as listed: ``<namespace>__<name>`` inside a namespace."""
    return f"{namespace}__{name}" if namespace and name else name


def _responses_tools(tools: Any) -> list[Tool]:
    """Named tools; a ``namespace`` tool's inner tools, flattened (the namespace itself is not callable)."""
    found = []
    for tool in map(_dict, _list(tools)):
        name = _str(tool.get("name"))
        if name is None:
            continue
        if tool.get("type") != "namespace":
            found.append(Tool(name, custom=tool.get("type") == "custom"))
            continue
        for inner in map(_dict, _list(tool.get("tools"))):
            if (bare := _str(inner.get("name"))) is not None:
                found.append(Tool(f"{name}__{bare}", inner.get("type") == "custom", namespace=name, bare_name=bare))
    return found


def _responses(body: dict[str, Any]) -> Conversation:
    tools = _responses_tools(body.get("tools"))
    given = body.get("input")
    items: list[Item] = [Item("user", given)] if isinstance(given, str) else []
    for raw in _list(given):
        item = _dict(raw)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            items.append(Item(str(item.get("role", "")), text_of(item.get("content"))))
        elif kind in CALL_ITEMS:
            args = item.get("arguments", item.get("input", item.get("action")))
            name = flat_name(_str(item.get("name")), _str(item.get("namespace")))
            items.append(Item("tool-call", "", name, _str(item.get("call_id")), args))
        elif kind in RESULT_ITEMS:
            output = item.get("output")
            text = output if isinstance(output, str) else text_of(output)
            items.append(Item("tool-result", text, None, _str(item.get("call_id"))))
        elif kind != "reasoning":
            items.append(Item(str(kind)))
    system = [i.text for i in items if i.kind in ("system", "developer")]
    return Conversation(tuple(tools), tuple(items), _system(_str(body.get("instructions")) or "", *system))


# -- Anthropic Messages ---------------------------------------------------------------


def _anthropic(body: dict[str, Any]) -> Conversation:
    tools = [Tool(name) for t in _list(body.get("tools")) if (name := _str(_dict(t).get("name"))) is not None]
    items: list[Item] = []
    for raw in _list(body.get("messages")):
        message = _dict(raw)
        role = str(message.get("role", ""))
        content = message.get("content")
        if isinstance(content, str):
            items.append(Item(role, content))
            continue
        pending: list[str] | None = None  # the texts of a run of ordinary blocks, one item
        for block in map(_dict, _list(content)):
            kind = str(block.get("type", ""))
            if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
                pending = None
                name, ident = _str(block.get("name")), _str(block.get("id"))
                items.append(Item("tool-call", "", name, ident, block.get("input")))
            elif kind == "tool_result" or kind.endswith("_tool_result"):
                pending = None
                result = block.get("content")
                text = result if isinstance(result, str) else text_of(result)
                items.append(Item("tool-result", text, None, _str(block.get("tool_use_id"))))
            elif kind not in ("thinking", "redacted_thinking"):
                if pending is None:
                    pending = []
                    items.append(Item(role))
                pending.append(_str(block.get("text")) or "")
                items[-1] = Item(role, "".join(pending))
    system = body.get("system")
    return Conversation(tuple(tools), tuple(items), system if isinstance(system, str) else text_of(system))


# -- Gemini ---------------------------------------------------------------------------


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """A field in proto3 JSON: lowerCamelCase, or the proto name (both are accepted)."""
    return obj.get(camel, obj.get(snake))


def function_response_text(response: Any) -> str:
    """The text of a ``functionResponse.response``: its ``output`` / ``result`` / ``content`` /
    ``error`` when it has one (a string as is, text parts joined, other JSON as JSON text: a
    gateway wraps a non-object result as ``{"result": value}``), else the object as JSON."""
    data = _dict(response)
    for key in RESULT_KEYS:
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, str):
            return value
        if isinstance(value, list) and (joined := text_of(value)):
            return joined
        return orjson.dumps(value).decode()
    return orjson.dumps(response).decode() if response is not None else ""


def _gemini(body: dict[str, Any]) -> Conversation:
    tools = []
    for tool in map(_dict, _list(body.get("tools"))):
        for decl in map(_dict, _list(_get(tool, "functionDeclarations", "function_declarations"))):
            if (name := _str(decl.get("name"))) is not None:
                tools.append(Tool(name))
    items: list[Item] = []
    for content in map(_dict, _list(body.get("contents"))):
        role = "assistant" if content.get("role") == "model" else str(content.get("role") or "user")
        pending: list[str] | None = None
        for part in map(_dict, _list(content.get("parts"))):
            call = _dict(_get(part, "functionCall", "function_call"))
            answer = _dict(_get(part, "functionResponse", "function_response"))
            if call:
                pending = None
                items.append(Item("tool-call", "", _str(call.get("name")), _str(call.get("id")), call.get("args")))
            elif answer:
                pending = None
                text = function_response_text(answer.get("response"))
                items.append(Item("tool-result", text, _str(answer.get("name")), _str(answer.get("id"))))
            elif part.get("thought") is not True:
                if pending is None:
                    pending = []
                    items.append(Item(role))
                pending.append(_str(part.get("text")) or "")
                items[-1] = Item(role, "".join(pending))
    system = _dict(_get(body, "systemInstruction", "system_instruction"))
    return Conversation(tuple(tools), tuple(items), text_of(system.get("parts")))
