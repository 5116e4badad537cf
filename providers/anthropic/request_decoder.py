"""A ``POST /v1/messages`` body -> canonical ``ChatRequest`` (the client side).

Modelled fields: ``model``, ``messages`` (see ``message_decoder``; ``system``-role
messages stay in place), ``system`` (string or text blocks), ``max_tokens`` (required,
like the real API, except for count_tokens), ``temperature``, ``top_p``,
``stop_sequences``, ``stream``, custom ``tools``, ``tool_choice`` (``any`` is
``required``; ``disable_parallel_tool_use`` is ``parallel_tool_calls=False``),
``thinking``, ``output_config.format`` (``json_schema`` -> ``ResponseFormat``),
``output_config.effort`` and ``metadata.user_id``.

Reasoning: ``thinking: enabled`` is ``Reasoning(budget_tokens)`` with thoughts shown
unless ``display`` is ``omitted``; ``disabled`` is ``Reasoning(budget_tokens=0,
include_thoughts=False)``; ``adaptive`` (the model decides how much to think) is a
``Reasoning`` with no budget, so each target uses its own dynamic default.
``output_config.effort`` is ``Reasoning.effort`` (``max`` and ``xhigh`` are ``high``, the
top of the canonical scale) unless thinking is disabled.

Hints (``hints``: kept for an Anthropic upstream, left out by the others, as the README's
translation table says): the ``adaptive`` thinking object and ``output_config.effort``
as sent (their canonical reading above is what other targets get), ``context_management``
(server-side context editing, which only Anthropic does), custom tools marked
``defer_loading: true`` (kept whole under ``hints["tools[<name>]"]``: not loaded into the
model's context until a tool search finds them, so other targets do not get them), and
``metadata.user_id`` as sent when it is an agent's structured id (``agent_session``): the
canonical ``user`` is then the device or account it names and ``cache_key`` its session.

Everything else goes to ``extras`` (``extras_format="anthropic"``), so only an Anthropic
upstream may receive it and any other upstream rejects it by name: ``top_k``,
``service_tier``, ``container``, ``mcp_servers``, top-level ``cache_control``, other
``thinking`` types, ``output_config`` keys besides ``format`` and ``effort``, other
``metadata`` keys, and tools the canonical model has no room for:

* a server/typed tool (``{"type": "web_search_20250305", "name": "web_search"}``) is kept
  whole under ``extras["tools[web_search]"]``;
* a custom tool's unmodelled keys (``defer_loading: false``, ``input_examples``...) are
  kept under ``extras["tools[<name>].<key>"]``.

``cache_control`` on system blocks, tools and message blocks becomes the canonical
``cache`` hint, sent on to Anthropic upstreams (others cache on their own). Anthropic
streams always carry usage, so ``include_usage`` is always true.
"""

from __future__ import annotations

from typing import Any, Literal

from engine.canonical import (
    ChatRequest,
    Reasoning,
    ResponseFormat,
    TextPart,
    Tool,
    ToolChoice,
)
from engine.errors import BadRequest
from providers.anthropic.agent_session import identity
from providers.anthropic.fields import (
    JsonObject,
    as_list,
    as_object,
    as_str,
    cache_hint,
    join,
    opt_bool,
    opt_int,
    opt_number,
    opt_str,
    required,
)
from providers.anthropic.message_decoder import decode_messages
from providers.output_cap import output_cap

_MODELLED = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
    }
)
_HINTS = frozenset({"context_management"})
_EFFORTS: dict[str, Literal["low", "medium", "high"]] = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
_CUSTOM_TOOL_KEYS = frozenset({"type", "name", "description", "input_schema", "strict", "cache_control"})


def decode_request(
    body: object,
    *,
    model: str | None = None,
    stream: bool | None = None,
    require_max_tokens: bool = True,
) -> ChatRequest:
    obj = as_object(body, "request body")
    extras: dict[str, Any] = {
        key: value for key, value in obj.items() if key not in _MODELLED | _HINTS and value is not None
    }
    max_tokens = output_cap(obj.get("max_tokens"), "max_tokens")
    if max_tokens is None and require_max_tokens:
        raise BadRequest("max_tokens: field required", param="max_tokens")
    request = ChatRequest(
        model=model if model is not None else as_str(required(obj, "model", ""), "model"),
        messages=decode_messages(required(obj, "messages", "")),
        system=_system(obj.get("system")),
        max_tokens=max_tokens,
        temperature=opt_number(obj, "temperature", ""),
        top_p=opt_number(obj, "top_p", ""),
        stop=_stop_sequences(obj.get("stop_sequences")),
        stream=stream if stream is not None else bool(opt_bool(obj, "stream", "")),
        include_usage=True,
        extras=extras,
        extras_format="anthropic",
        hints={key: obj[key] for key in _HINTS if obj.get(key) is not None},
    )
    request.tools = _tools(obj.get("tools"), extras, request.hints)
    _tool_choice(obj.get("tool_choice"), request)
    request.reasoning = _thinking(obj.get("thinking"), extras, request.hints)
    request.response_format = _output_config(obj.get("output_config"), request)
    _metadata(obj.get("metadata"), request)
    return request


def _system(value: object) -> list[TextPart]:
    if value is None:
        return []
    if isinstance(value, str):
        return [TextPart(value)] if value else []
    parts: list[TextPart] = []
    for i, item in enumerate(as_list(value, "system")):
        path = join("system", i)
        block = as_object(item, path)
        kind = as_str(required(block, "type", path), join(path, "type"))
        if kind != "text":
            raise BadRequest(f"{join(path, 'type')}: system blocks must be 'text'", param=path)
        parts.append(TextPart(as_str(required(block, "text", path), join(path, "text")), cache=cache_hint(block, path)))
    return parts


def _stop_sequences(value: object) -> list[str]:
    if value is None:
        return []
    return [as_str(item, join("stop_sequences", i)) for i, item in enumerate(as_list(value, "stop_sequences"))]


def _tools(value: object, extras: dict[str, Any], hints: dict[str, Any]) -> list[Tool]:
    if value is None:
        return []
    tools: list[Tool] = []
    seen: set[str] = set()
    for i, item in enumerate(as_list(value, "tools")):
        path = join("tools", i)
        tool = as_object(item, path)
        kind = opt_str(tool, "type", path)
        name = as_str(required(tool, "name", path), join(path, "name"))
        if name in seen:
            raise BadRequest(f"{join(path, 'name')}: duplicate tool name {name!r}", param=path)
        seen.add(name)
        if kind not in (None, "custom"):
            extras[f"tools[{name}]"] = tool
            continue
        if tool.get("defer_loading") is True:
            hints[f"tools[{name}]"] = tool
            continue
        schema = as_object(required(tool, "input_schema", path), join(path, "input_schema"))
        tools.append(
            Tool(
                name=name,
                description=opt_str(tool, "description", path),
                parameters=schema,
                strict=opt_bool(tool, "strict", path),
                cache=cache_hint(tool, path),
            )
        )
        for key, extra in tool.items():
            if key not in _CUSTOM_TOOL_KEYS and extra is not None:
                extras[f"tools[{name}].{key}"] = extra
    return tools


def _tool_choice(value: object, request: ChatRequest) -> None:
    if value is None:
        return
    choice = as_object(value, "tool_choice")
    kind = as_str(required(choice, "type", "tool_choice"), "tool_choice.type")
    if kind == "auto":
        request.tool_choice = ToolChoice("auto")
    elif kind == "any":
        request.tool_choice = ToolChoice("required")
    elif kind == "none":
        request.tool_choice = ToolChoice("none")
    elif kind == "tool":
        name = as_str(required(choice, "name", "tool_choice"), "tool_choice.name")
        request.tool_choice = ToolChoice("tool", name=name)
    else:
        raise BadRequest(
            f"tool_choice.type: must be one of auto, any, tool, none; got {kind!r}",
            param="tool_choice.type",
        )
    disable = opt_bool(choice, "disable_parallel_tool_use", "tool_choice")
    if disable is not None:
        request.parallel_tool_calls = not disable


def _thinking(value: object, extras: dict[str, Any], hints: dict[str, Any]) -> Reasoning | None:
    if value is None:
        return None
    config = as_object(value, "thinking")
    kind = as_str(required(config, "type", "thinking"), "thinking.type")
    if kind == "enabled":
        budget = opt_int(config, "budget_tokens", "thinking")
        if budget is None:
            raise BadRequest("thinking.budget_tokens: field required", param="thinking.budget_tokens")
        display = opt_str(config, "display", "thinking")
        return Reasoning(budget_tokens=budget, include_thoughts=display != "omitted")
    if kind == "disabled":
        return Reasoning(budget_tokens=0, include_thoughts=False)
    if kind == "adaptive":
        hints["thinking"] = config
        return Reasoning(include_thoughts=opt_str(config, "display", "thinking") != "omitted")
    extras["thinking"] = config  # newer modes: Anthropic-only
    return None


def _output_config(value: object, request: ChatRequest) -> ResponseFormat | None:
    if value is None:
        return None
    config = as_object(value, "output_config")
    rest: JsonObject = {k: v for k, v in config.items() if k not in ("format", "effort") and v is not None}
    if rest:
        request.extras["output_config"] = rest
    effort = opt_str(config, "effort", "output_config")
    if effort is not None:
        _effort(effort, request)
    fmt = config.get("format")
    if fmt is None:
        return None
    spec = as_object(fmt, "output_config.format")
    kind = as_str(required(spec, "type", "output_config.format"), "output_config.format.type")
    if kind != "json_schema":
        raise BadRequest(
            f"output_config.format.type: must be 'json_schema', got {kind!r}",
            param="output_config.format.type",
        )
    schema = as_object(required(spec, "schema", "output_config.format"), "output_config.format.schema")
    return ResponseFormat("json_schema", schema=schema)


def _effort(effort: str, request: ChatRequest) -> None:
    """``output_config.effort``: the reasoning effort, kept as sent for Anthropic."""
    level = _EFFORTS.get(effort)
    if level is None:
        request.extras["output_config"] = {**request.extras.get("output_config", {}), "effort": effort}
        return
    request.hints["output_config"] = {"effort": effort}
    reasoning = request.reasoning
    if reasoning is None:
        request.reasoning = Reasoning(effort=level)
    elif reasoning.budget_tokens != 0:  # thinking disabled stays disabled
        reasoning.effort = level


def _metadata(value: object, request: ChatRequest) -> None:
    if value is None:
        return
    metadata = as_object(value, "metadata")
    rest = {k: v for k, v in metadata.items() if k != "user_id" and v is not None}
    if rest:
        request.extras["metadata"] = rest
    user_id = opt_str(metadata, "user_id", "metadata")
    if user_id is None:
        return
    user, session = identity(user_id)
    request.user, request.cache_key = user, session
    if user != user_id:
        request.hints["metadata"] = {"user_id": user_id}
