"""A client's ``POST /v1/responses`` body as a canonical ``ChatRequest``.

Field by field: ``instructions`` and system/developer input messages -> ``system``;
``input`` -> messages (see ``input_items``); function tools -> ``tools``; ``tool_choice``,
``parallel_tool_calls``, ``max_output_tokens``, ``temperature``, ``top_p``, ``stream``,
``metadata``, ``user`` one to one; ``text.format`` -> ``response_format``;
``reasoning.effort`` (minimal..high) and ``reasoning.summary`` -> ``reasoning``.

Tools with no canonical form of their own (see ``client_tools``): the function tools of a
``namespace`` tool are flattened into function tools with reversible names, and a
``custom`` (free-form) tool is a function taking one string; ``Tool.shape`` keeps the
client's shape so the encoders answer with the client's own call items.

Hosted ``web_search`` tools become ``hosted_tools``: a Responses upstream runs them, an
attempt on any other format goes without them and the response says so in
``x-turnout-dropped-tools`` (the model answers from what it knows instead of searching).

Kept in ``extras`` (forwarded only to a Responses upstream, refused by any other): the
other hosted tools (file search, code interpreter, MCP) under ``"tools"``, a hosted or
``allowed_tools`` tool choice under ``"tool_choice"``, ``include`` entries other than
``reasoning.encrypted_content``, efforts and summary levels the canonical model lacks
(``"reasoning.effort"``, ``"reasoning.summary"``), ``"text.verbosity"``,
``"text.format.description"``, and every other top-level field as is
(``previous_response_id``, ``conversation``, ``prompt``, ``background``, ``truncation``...).
Fields equal to the API's documented default (``truncation: "disabled"``,
``background: false``, ``service_tier: "auto"``, ``top_logprobs: 0``,
``text.verbosity: "medium"``) and JSON nulls are no-ops.

Hints (``HINTS``: ``prompt_cache_retention``, ``safety_identifier``, ``service_tier``,
``client_metadata``) tune cost or caching or label the caller and never change the answer:
forwarded to a Responses upstream, left out for others (so the Codex CLI works on any
route). ``prompt_cache_key`` is ``cache_key`` (sent as ``prompt_cache_key`` to OpenAI chat
and Responses upstreams) and also marks prompt-cache breakpoints (``cache`` on the last
tool, the last system part and the last part of the conversation) that an Anthropic
upstream sends as ``cache_control``, so long agent conversations are cached there too.

Decided here, because the gateway is stateless:

* ``store`` is accepted with any value and never forwarded: the gateway cannot store a
  response, and a Responses upstream is always called with ``store: false``; refusing
  the API's default (``true``) would refuse nearly every client.
* ``include: ["reasoning.encrypted_content"]`` is always honoured: a reasoning item's
  state is returned as ``encrypted_content`` whenever the upstream gave one.
* ``stream_options`` only tunes obfuscation padding of the stream; it is accepted and
  the gateway's own stream carries no padding.

Refused (``NoCanonicalForm``: only a Responses upstream can serve them): tool types whose
calls the client must execute in a shape of their own or whose results are not text
(computer use, local shell, image generation), because their output items have no
canonical form.
"""

from __future__ import annotations

from typing import Any, Literal

from engine.canonical import (
    ChatRequest,
    HostedTool,
    ImagePart,
    Message,
    Reasoning,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from engine.errors import BadRequest, NoCanonicalForm
from providers.openai_responses.client_tools import custom_tool, flat_name, namespace_tools
from providers.openai_responses.input_items import decode_input
from providers.openai_responses.wire import (
    FORMAT,
    JSONObject,
    WireError,
    as_list,
    as_object,
    opt_bool,
    opt_float,
    opt_object,
    opt_str,
    req_str,
)
from providers.output_cap import output_cap

HINTS = frozenset({"prompt_cache_retention", "safety_identifier", "service_tier", "client_metadata"})
CACHE_HINT = "5m"  # the breakpoints' lifetime: Anthropic's default (and cheapest) cache
_MAPPED = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "max_output_tokens", "temperature", "top_p", "stream", "text", "reasoning",
        "metadata", "user", "store", "include", "stream_options",
    }
)  # fmt: skip
_NOOP_DEFAULTS: dict[str, Any] = {
    "truncation": "disabled",
    "background": False,
    "service_tier": "auto",
    "top_logprobs": 0,
}
_EFFORTS: dict[str, Literal["minimal", "low", "medium", "high"]] = {
    "minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
}  # fmt: skip
_CHOICES: dict[str, Literal["auto", "none", "required"]] = {"auto": "auto", "none": "none", "required": "required"}
_PLAIN_FORMATS: dict[str, Literal["text", "json_object"]] = {"text": "text", "json_object": "json_object"}
_FUNCTION_TOOL_KEYS = frozenset({"type", "name", "description", "parameters", "strict"})
_HOSTED_TOOL_PREFIXES = ("web_search", "file_search", "code_interpreter", "mcp")
_DROPPABLE_TOOL_PREFIX = "web_search"  # the model may search; without it, it answers from what it knows
_ENCRYPTED_REASONING = "reasoning.encrypted_content"


def decode_request(body: Any, *, model: str | None = None, stream: bool | None = None) -> ChatRequest:
    """Raises ``BadRequest`` naming the offending field."""
    try:
        return _decode(as_object(body, "body"), model, stream)
    except WireError as exc:
        raise BadRequest(str(exc)) from exc


def _decode(body: JSONObject, path_model: str | None, path_stream: bool | None) -> ChatRequest:
    model = opt_str(body, "model", "body") or path_model
    if not model:
        raise BadRequest("model is required", param="model")
    if "input" not in body or body["input"] is None:
        raise BadRequest("input is required", param="input")
    conv = decode_input(body["input"])
    extras: JSONObject = {}
    instructions = opt_str(body, "instructions", "body")
    system = conv.system
    if instructions:
        system = [TextPart(instructions), *system]
    stream = opt_bool(body, "stream", "body")
    request = ChatRequest(
        model=model,
        messages=conv.messages,
        system=system,
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls", "body"),
        max_tokens=output_cap(body.get("max_output_tokens"), "max_output_tokens"),
        temperature=opt_float(body, "temperature", "body"),
        top_p=opt_float(body, "top_p", "body"),
        stream=bool(stream if stream is not None else path_stream),
        include_usage=True,
        metadata=_metadata(body.get("metadata")),
        user=opt_str(body, "user", "body"),
        extras=extras,
        extras_format=FORMAT,
    )
    request.tools, request.hosted_tools = _tools(body.get("tools"), extras)
    request.tool_choice = _tool_choice(body.get("tool_choice"), extras)
    request.response_format = _text(opt_object(body, "text", "body"), extras)
    request.reasoning = _reasoning(opt_object(body, "reasoning", "body"), extras)
    _include(body.get("include"), extras)
    for key, value in body.items():
        if key in _MAPPED or value is None:
            continue
        if key in _NOOP_DEFAULTS and value == _NOOP_DEFAULTS[key]:
            continue
        if key in HINTS:
            request.hints[key] = value
            continue
        if key == "prompt_cache_key" and isinstance(value, str):
            request.cache_key = value
            continue
        extras[key] = value
    if request.cache_key:
        _mark_cache_breakpoints(request)
    return request


def _mark_cache_breakpoints(request: ChatRequest) -> None:
    """Prompt-cache breakpoints where a long agent conversation's stable prefix ends: the
    tools, the system prompt, and the conversation so far (at most 4 on Anthropic)."""
    if request.tools:
        request.tools[-1].cache = CACHE_HINT
    if request.system:
        request.system[-1].cache = CACHE_HINT
    last: Message | None = request.messages[-1] if request.messages else None
    if last is not None:
        for part in reversed(last.parts):
            if isinstance(part, TextPart | ImagePart | ToolCall | ToolResult):
                part.cache = CACHE_HINT
                break


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    meta = as_object(value, "metadata")
    for key, item in meta.items():
        if not isinstance(item, str):
            raise BadRequest(f"metadata.{key} must be a string", param="metadata")
    return dict(meta)


def _tools(value: Any, extras: JSONObject) -> tuple[list[Tool], list[HostedTool]]:
    if value is None:
        return [], []
    tools: list[Tool] = []
    droppable: list[HostedTool] = []
    hosted: list[JSONObject] = []
    for i, raw in enumerate(as_list(value, "tools")):
        path = f"tools[{i}]"
        tool = as_object(raw, path)
        kind = req_str(tool, "type", path)
        if kind == "function":
            for key in tool:
                if key not in _FUNCTION_TOOL_KEYS:
                    raise NoCanonicalForm(f"{path}.{key} is not supported by this gateway", param="tools")
            tools.append(
                Tool(
                    name=req_str(tool, "name", path),
                    description=opt_str(tool, "description", path),
                    parameters=opt_object(tool, "parameters", path) or {},
                    strict=opt_bool(tool, "strict", path),
                )
            )
        elif kind == "namespace":
            tools.extend(namespace_tools(tool, path))
        elif kind == "custom":
            tools.append(custom_tool(tool, path))
        elif kind.startswith(_DROPPABLE_TOOL_PREFIX):
            droppable.append(HostedTool(kind=kind, spec=tool, format=FORMAT))
        elif kind.startswith(_HOSTED_TOOL_PREFIXES):
            hosted.append(tool)
        else:
            raise NoCanonicalForm(
                f"{path}: tool type '{kind}' is not supported by this gateway: its calls have no "
                "translatable form (use function, namespace or custom tools, or the hosted "
                "web_search, file_search, code_interpreter and mcp tools)",
                param="tools",
            )
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise BadRequest(
            f"tools: more than one tool is named '{dup}' (namespaced tools count as <namespace>__<name>)",
            param="tools",
        )
    if hosted:
        extras["tools"] = hosted
    return tools, droppable


def _tool_choice(value: Any, extras: JSONObject) -> ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str):
        mode = _CHOICES.get(value)
        if mode is None:
            raise BadRequest("tool_choice must be auto, none, required or an object", param="tool_choice")
        return ToolChoice(mode=mode)
    choice = as_object(value, "tool_choice")
    kind = req_str(choice, "type", "tool_choice")
    if kind in ("function", "custom"):
        name = req_str(choice, "name", "tool_choice")
        namespace = opt_str(choice, "namespace", "tool_choice")
        return ToolChoice(
            mode="tool", name=name if kind == "function" and not namespace else flat_name(name, namespace)
        )
    extras["tool_choice"] = choice
    return None


def _text(text: JSONObject | None, extras: JSONObject) -> ResponseFormat | None:
    if text is None:
        return None
    fmt: ResponseFormat | None = None
    for key, value in text.items():
        if value is None:
            continue
        if key == "format":
            fmt = _format(as_object(value, "text.format"), extras)
        elif not (key == "verbosity" and value == "medium"):
            extras[f"text.{key}"] = value
    return fmt


def _format(fmt: JSONObject, extras: JSONObject) -> ResponseFormat:
    kind = req_str(fmt, "type", "text.format")
    plain = _PLAIN_FORMATS.get(kind)
    if plain is not None:
        return ResponseFormat(kind=plain)
    if kind != "json_schema":
        raise BadRequest(f"text.format.type '{kind}' is not one of text, json_object, json_schema", param="text")
    for key, value in fmt.items():
        if key not in ("type", "name", "schema", "strict") and value is not None:
            extras[f"text.format.{key}"] = value
    return ResponseFormat(
        kind="json_schema",
        schema=opt_object(fmt, "schema", "text.format"),
        name=opt_str(fmt, "name", "text.format"),
        strict=opt_bool(fmt, "strict", "text.format"),
    )


def _reasoning(value: JSONObject | None, extras: JSONObject) -> Reasoning | None:
    if value is None:
        return None
    reasoning = Reasoning()
    effort = opt_str(value, "effort", "reasoning")
    if effort is not None and effort in _EFFORTS:
        reasoning.effort = _EFFORTS[effort]
    elif effort is not None:
        extras["reasoning.effort"] = effort
    summary = opt_str(value, "summary", "reasoning") or opt_str(value, "generate_summary", "reasoning")
    if summary is not None:
        reasoning.include_thoughts = True
        if summary != "auto":
            extras["reasoning.summary"] = summary
    for key, item in value.items():
        if key not in ("effort", "summary", "generate_summary") and item is not None:
            extras[f"reasoning.{key}"] = item
    if reasoning.effort is None and reasoning.include_thoughts is None:
        return None
    return reasoning


def _include(value: Any, extras: JSONObject) -> None:
    if value is None:
        return
    rest: list[str] = []
    for i, item in enumerate(as_list(value, "include")):
        if not isinstance(item, str):
            raise BadRequest(f"include[{i}] must be a string", param="include")
        if item != _ENCRYPTED_REASONING:
            rest.append(item)
    if rest:
        extras["include"] = rest
