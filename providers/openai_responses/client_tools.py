"""A Responses client's ``namespace`` and ``custom`` tools as flat function tools, and back.

The canonical model (and every upstream format) knows only function tools with one name.
A Responses client such as the Codex CLI also declares:

* ``{"type": "namespace", "name": ns, "tools": [function tools]}``: each inner tool becomes
  a function tool named ``flat_name(ns, name)``; the model's call comes back to the client
  as ``{"type": "function_call", "namespace": ns, "name": name, ...}``, the shape the API
  uses for a call into a namespace.
* ``{"type": "custom", "name", "description", "format"}`` (free-form input, optionally
  constrained by a grammar): a function taking one string, ``{"input": "..."}``, whose
  description carries the grammar; the call comes back as a ``custom_tool_call`` with that
  string as ``input``, and the client's ``custom_tool_call_output`` is a tool result.

Flat names are valid for every target's tool-name rules (Anthropic's
``^[a-zA-Z0-9_-]{1,64}$`` is the strictest): ``<namespace>__<name>``, other characters as
``_``, and a name over 64 characters cut with a hash of the whole kept at its end. The
mapping is deterministic, so earlier calls in the conversation flatten the same way; the
way back reads ``Tool.shape`` from the request, never parses a name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from engine.canonical import ClientToolShape, Tool, ToolCall
from engine.errors import BadRequest, NoCanonicalForm
from providers.openai_responses.wire import JSONObject, as_list, as_object, opt_bool, opt_object, opt_str, req_str

MAX_NAME = 64
_INVALID = re.compile(r"[^A-Za-z0-9_-]")
_NAMESPACE_KEYS = frozenset({"type", "name", "description", "tools"})
_CUSTOM_KEYS = frozenset({"type", "name", "description", "format"})
_FUNCTION_KEYS = frozenset({"type", "name", "description", "parameters", "strict"})


def flat_name(name: str, namespace: str | None = None) -> str:
    """The name every upstream sees for the client's tool ``name`` (in ``namespace``)."""
    full = f"{namespace}__{name}" if namespace else name
    safe = _INVALID.sub("_", full)
    if len(safe) <= MAX_NAME and safe == full:
        return safe
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{safe[: MAX_NAME - 9]}_{digest}"


def namespace_tools(tool: JSONObject, path: str) -> list[Tool]:
    """A ``namespace`` tool's function tools, flattened. Raises ``BadRequest``."""
    _check_keys(tool, _NAMESPACE_KEYS, path)
    namespace = req_str(tool, "name", path)
    tools: list[Tool] = []
    for j, raw in enumerate(as_list(tool.get("tools"), f"{path}.tools")):
        inner_path = f"{path}.tools[{j}]"
        inner = as_object(raw, inner_path)
        if inner.get("type") != "function":
            raise BadRequest(f"{inner_path}.type must be 'function' inside a namespace", param="tools")
        _check_keys(inner, _FUNCTION_KEYS, inner_path)
        name = req_str(inner, "name", inner_path)
        tools.append(
            Tool(
                name=flat_name(name, namespace),
                description=opt_str(inner, "description", inner_path),
                parameters=opt_object(inner, "parameters", inner_path) or {},
                strict=opt_bool(inner, "strict", inner_path),
                shape=ClientToolShape(name=name, namespace=namespace),
            )
        )
    return tools


def custom_tool(tool: JSONObject, path: str) -> Tool:
    """A ``custom`` (free-form) tool as a function taking one string. Raises ``BadRequest``."""
    _check_keys(tool, _CUSTOM_KEYS, path)
    name = req_str(tool, "name", path)
    description = opt_str(tool, "description", path) or ""
    fmt = opt_object(tool, "format", path)
    if fmt is not None and fmt.get("type") == "grammar":
        syntax = opt_str(fmt, "syntax", f"{path}.format") or "grammar"
        definition = opt_str(fmt, "definition", f"{path}.format") or ""
        description += f"\n\nThe input must match this {syntax} grammar:\n{definition}"
    parameters = {
        "type": "object",
        "properties": {"input": {"type": "string", "description": "The tool's free-form input."}},
        "required": ["input"],
        "additionalProperties": False,
    }
    return Tool(
        name=flat_name(name),
        description=description.strip() or None,
        parameters=parameters,
        shape=ClientToolShape(name=name, freeform=True),
    )


def custom_arguments(text: str) -> str:
    """A ``custom_tool_call``'s ``input`` as the arguments of its flat function."""
    return orjson.dumps({"input": text}).decode()


def custom_input(arguments: str) -> str:
    """The free-form input back out of the flat function's arguments (the raw text when
    the model did not write the ``{"input": ...}`` object it was asked for)."""
    try:
        parsed: Any = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(parsed, dict) and isinstance(parsed.get("input"), str):
        return str(parsed["input"])
    return arguments


def shapes(tools: Iterable[Tool]) -> dict[str, ClientToolShape]:
    """Flat name -> the client's shape, for the tools that have one."""
    return {t.name: t.shape for t in tools if t.shape is not None}


def call_item(call: ToolCall, shape: ClientToolShape | None, item_id: str, status: str, done: bool) -> JSONObject:
    """The output item a Responses client expects for ``call`` (a ``function_call``, in its
    namespace when it has one, or a ``custom_tool_call``); arguments/input only when ``done``."""
    if shape is not None and shape.freeform:
        return {
            "id": item_id,
            "type": "custom_tool_call",
            "status": status,
            "call_id": call.id,
            "name": shape.name,
            "input": custom_input(call.arguments) if done else "",
        }
    item: JSONObject = {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": call.arguments if done else "",
        "call_id": call.id,
        "name": shape.name if shape is not None else call.name,
    }
    if shape is not None and shape.namespace is not None:
        item["namespace"] = shape.namespace
    return item


def _check_keys(obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    for key, value in obj.items():
        if key not in allowed and value is not None:
            raise NoCanonicalForm(f"{path}.{key} is not supported by this gateway", param="tools")
