"""Canonical ``ChatRequest`` -> Anthropic ``POST /v1/messages`` body (the upstream side).

Choices this module makes (each is the documented behaviour, not an accident):

* System messages opening the conversation join ``system`` (after the request's system
  prompt); later ones are ``system`` messages for a ``system_messages`` model, else
  marked user text (``message_encoder``).
* ``max_tokens`` is required by Anthropic: when the client gave none it is
  ``endpoint.params["max_tokens"]`` or ``DEFAULT_MAX_TOKENS`` (4096).
* Reasoning: ``budget_tokens=0`` is ``thinking: disabled``; a budget is
  ``thinking: enabled`` with that budget (raised to Anthropic's minimum of 1024); an
  ``effort`` maps through ``EFFORT_BUDGET``; thoughts requested with neither use the
  ``medium`` budget. Anthropic needs ``budget < max_tokens``: with a defaulted
  ``max_tokens`` it grows to ``budget + default``, an effort budget shrinks to fit the
  client's ``max_tokens``, an explicit budget that does not fit is a ``BadRequest``.
  ``include_thoughts=False`` is ``display: "omitted"`` (newer Claude models only).
* ``response_format``: ``json_schema`` is native structured output
  (``output_config.format``); ``json_object`` has no Anthropic equivalent and is an
  ``UnsupportedFeature``; the schema ``name`` is a label Anthropic has no field for.
* ``tool_choice``: ``required`` is ``any``; ``parallel_tool_calls=False`` is
  ``disable_parallel_tool_use``. With no tools at all, ``auto``/``none`` are trivially
  honoured and not sent.
* ``temperature`` above 1 is a ``BadRequest`` (Anthropic's range is 0..1).
* ``user`` is ``metadata.user_id``; canonical ``metadata`` (OpenAI-style stored-completion
  tags) is caller bookkeeping with no Anthropic field: not sent (see ``engine.canonical``).
* ``extras`` are forwarded only when ``extras_format == "anthropic"`` (see
  ``request_decoder`` for the ``tools[...]`` keys); otherwise they are an
  ``UnsupportedFeature`` naming them. Anthropic's ``hints`` (adaptive ``thinking``,
  ``output_config.effort``, ``context_management``, deferred tools, the agent's
  ``metadata.user_id``) are forwarded the same way, over the canonical fields they
  stand for; other formats' hints are left out. ``endpoint.params`` are merged last and win.
* ``cache_key`` has no Anthropic field: ``cache_control`` marks what to cache.
"""

from __future__ import annotations

from typing import Any, Final

from engine.canonical import ChatRequest, Reasoning, TextPart, Tool
from engine.errors import BadRequest, UnsupportedFeature
from providers import system_turns
from providers.anthropic.fields import JsonObject, cache_control
from providers.anthropic.message_encoder import build_messages
from providers.base import Endpoint

DEFAULT_MAX_TOKENS: Final = 4096
MIN_THINKING_BUDGET: Final = 1024
EFFORT_BUDGET: Final[dict[str, int]] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}


def build_body(request: ChatRequest, endpoint: Endpoint) -> JsonObject:
    extras = _forwardable_extras(request)
    default_max = _default_max_tokens(endpoint)
    max_tokens = request.max_tokens if request.max_tokens is not None else default_max
    thinking: JsonObject | None = None
    if "thinking" not in extras:  # a thinking object sent as is wins over the canonical reading
        thinking, max_tokens = _thinking(request.reasoning, request.max_tokens, max_tokens, default_max)
    body: JsonObject = {"model": endpoint.upstream_model, "max_tokens": max_tokens}
    leading, messages = system_turns.leading(request.messages)
    system = [_system_block(part) for part in [*request.system, *leading] if part.text]
    if system:
        body["system"] = system
    body["messages"] = build_messages(messages, endpoint.system_messages)
    body.update(_tool_fields(request, extras))
    body.update(_sampling(request))
    if request.stream:
        body["stream"] = True
    if thinking is not None:
        body["thinking"] = thinking
    metadata: JsonObject = {} if request.user is None else {"user_id": request.user}
    metadata.update(extras.pop("metadata", None) or {})  # an agent's user_id as it sent it wins
    if metadata:
        body["metadata"] = metadata
    output_config: JsonObject = dict(extras.pop("output_config", None) or {})
    if request.response_format is not None and request.response_format.kind == "json_schema":
        output_config["format"] = {"type": "json_schema", "schema": request.response_format.schema or {}}
    if output_config:
        body["output_config"] = output_config
    body.update(extras)
    body.update(endpoint.params)
    return body


def _sampling(request: ChatRequest) -> JsonObject:
    out: JsonObject = {}
    if request.temperature is not None:
        if request.temperature > 1:
            raise BadRequest(
                f"temperature: {request.temperature} is out of Anthropic's range 0..1",
                param="temperature",
            )
        out["temperature"] = request.temperature
    if request.top_p is not None:
        out["top_p"] = request.top_p
    if request.stop:
        out["stop_sequences"] = list(request.stop)
    return out


def _tool_fields(request: ChatRequest, extras: dict[str, Any]) -> JsonObject:
    tools = _tools(request.tools, extras)
    choice = _tool_choice(request)
    out: JsonObject = {}
    if tools:
        out["tools"] = tools
    if choice is not None and (tools or choice["type"] in ("any", "tool")):
        out["tool_choice"] = choice  # without tools, auto/none are trivially honoured
    return out


def _forwardable_extras(request: ChatRequest) -> dict[str, Any]:
    unsupported: list[str] = []
    if request.extras and request.extras_format != "anthropic":
        unsupported.extend(request.extras)
    if request.response_format is not None and request.response_format.kind == "json_object":
        unsupported.append("response_format json_object")
    if unsupported:
        raise UnsupportedFeature(unsupported, "anthropic")
    if request.extras_format != "anthropic":
        return {}
    merged = dict(request.extras)
    for key, value in request.hints.items():  # Anthropic's own hints ride along with its extras
        current = merged.get(key)
        merged[key] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


def _default_max_tokens(endpoint: Endpoint) -> int:
    value = endpoint.params.get("max_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else DEFAULT_MAX_TOKENS


def _thinking(
    reasoning: Reasoning | None, client_max: int | None, max_tokens: int, default_max: int
) -> tuple[JsonObject | None, int]:
    if reasoning is None:
        return None, max_tokens
    if reasoning.budget_tokens == 0:
        return {"type": "disabled"}, max_tokens
    derived = reasoning.budget_tokens is None
    if reasoning.budget_tokens is not None:
        budget = max(reasoning.budget_tokens, MIN_THINKING_BUDGET)
    elif reasoning.effort is not None:
        budget = EFFORT_BUDGET[reasoning.effort]
    elif reasoning.include_thoughts:
        budget = EFFORT_BUDGET["medium"]
    else:
        return None, max_tokens
    if budget >= max_tokens:
        if client_max is None:
            max_tokens = budget + default_max
        elif derived and client_max - 1 >= MIN_THINKING_BUDGET:
            budget = client_max - 1
        else:
            raise BadRequest(
                f"reasoning: Anthropic needs max_tokens ({client_max}) above the thinking "
                f"budget ({budget}, minimum {MIN_THINKING_BUDGET})",
                param="max_tokens",
            )
    thinking: JsonObject = {"type": "enabled", "budget_tokens": budget}
    if reasoning.include_thoughts is False:
        thinking["display"] = "omitted"
    return thinking, max_tokens


def _system_block(part: TextPart) -> JsonObject:
    block: JsonObject = {"type": "text", "text": part.text}
    if part.cache is not None:
        block["cache_control"] = cache_control(part.cache)
    return block


def _tool(tool: Tool) -> JsonObject:
    schema = tool.parameters if "type" in tool.parameters else {"type": "object", **tool.parameters}
    out: JsonObject = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = schema
    if tool.strict is not None:
        out["strict"] = tool.strict
    if tool.cache is not None:
        out["cache_control"] = cache_control(tool.cache)
    return out


def _tools(tools: list[Tool], extras: dict[str, Any]) -> list[JsonObject]:
    """The custom tools, then the server tools kept in ``extras``; pops the ``tools[...]``
    keys, putting ``tools[<name>].<key>`` values back onto the custom tool ``<name>``."""
    built = [_tool(tool) for tool in tools]
    by_name = {tool["name"]: tool for tool in built}
    server: list[JsonObject] = []
    for key in [k for k in extras if k.startswith("tools[")]:
        value = extras.pop(key)
        name, _, field = key[len("tools[") :].partition("].")
        if not field:
            server.append(value)
        elif name in by_name:
            by_name[name][field] = value
        else:
            raise BadRequest(f"{key}: no tool named {name!r} in the request", param=key)
    return built + server


def _tool_choice(request: ChatRequest) -> JsonObject | None:
    choice = request.tool_choice
    serial = request.parallel_tool_calls is False
    if choice is None:
        return {"type": "auto", "disable_parallel_tool_use": True} if serial else None
    if choice.mode == "none":
        return {"type": "none"}
    out: JsonObject
    if choice.mode == "auto":
        out = {"type": "auto"}
    elif choice.mode == "required":
        out = {"type": "any"}
    elif choice.name:
        out = {"type": "tool", "name": choice.name}
    else:
        raise BadRequest("tool_choice: mode 'tool' needs a tool name", param="tool_choice")
    if serial:
        out["disable_parallel_tool_use"] = True
    return out
