"""An OpenAI ``POST /v1/chat/completions`` body -> ``ChatRequest`` (client side, format "openai").

Mapped onto the canonical model: ``messages`` (system/developer -> ``system``, user text and
image_url parts, assistant content/refusal/tool_calls/``reasoning_content``, tool results),
``tools`` (function), ``tool_choice``, ``parallel_tool_calls``, ``max_completion_tokens`` /
``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``stream``,
``stream_options.include_usage``, ``response_format``, ``reasoning_effort`` (minimal, low,
medium, high; other values such as ``none``/``xhigh`` go to ``extras``), ``metadata``, ``user``.

System and developer messages are hoisted, in order, into ``ChatRequest.system`` wherever
they appear (the canonical model has no mid-conversation system turn). A tool result's
``name`` is recovered from the assistant tool call it answers.

Every other top-level field goes into ``extras`` (``extras_format="openai"``) so that only an
OpenAI upstream receives it and any other one refuses it. Exceptions, dropped on purpose:

* ``null`` values and values equal to OpenAI's documented default (``n: 1``,
  ``logprobs: false``, ``presence_penalty: 0``, ``frequency_penalty: 0``, ``store: false``,
  ``logit_bias: {}``, ``modalities: ["text"]``): they ask for nothing.
* Purely informational hints that change neither the output nor what the client is told:
  ``safety_identifier`` (abuse-monitoring id), ``prompt_cache_key``,
  ``prompt_cache_retention``, ``prompt_cache_options`` (cache-routing hints) and
  ``stream_options.include_obfuscation`` (stream padding).

Refused (400 ``unsupported_feature``), because the canonical model cannot carry them: message
``name``, assistant ``audio``/``function_call``, the legacy ``function`` role, ``input_audio``
and ``file`` content parts, custom tools, ``allowed_tools`` tool choice and
``response_format.json_schema.description``.
"""

from __future__ import annotations

from typing import Any, Literal

from engine.canonical import (
    ChatRequest,
    ImagePart,
    Message,
    Part,
    Reasoning,
    Refusal,
    ResponseFormat,
    TextPart,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from engine.errors import BadRequest
from providers.openai.fields import (
    as_array,
    as_object,
    as_str,
    fail,
    opt_bool,
    opt_number,
    opt_object,
    opt_str,
    req_str,
    unsupported,
)
from providers.output_cap import output_cap

Effort = Literal["minimal", "low", "medium", "high"]
ChoiceMode = Literal["auto", "none", "required"]

_HANDLED = frozenset(
    {
        "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
        "max_completion_tokens", "temperature", "top_p", "stop", "stream", "stream_options",
        "response_format", "reasoning_effort", "metadata", "user",
    }
)  # fmt: skip
_INFORMATIONAL = frozenset({"safety_identifier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options"})
_DEFAULTS: dict[str, Any] = {
    "n": 1,
    "logprobs": False,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "store": False,
    "logit_bias": {},
    "modalities": ["text"],
}
_EFFORTS: dict[str, Effort] = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
_CHOICE_MODES: dict[str, ChoiceMode] = {"auto": "auto", "none": "none", "required": "required"}
_PLAIN_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "refusal", "reasoning_content"})
_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def decode_chat_request(body: Any, *, model: str | None = None, stream: bool | None = None) -> ChatRequest:
    if not isinstance(body, dict):
        raise BadRequest("request body: expected a JSON object")
    name = opt_str(body, "model", "") or model
    if not name:
        raise BadRequest("model: required", param="model")
    system, messages = _messages(body.get("messages"))
    stream_flag = opt_bool(body, "stream", "")
    include_usage, stream_extras = _stream_options(body)
    extras = _extras(body)
    if stream_extras:
        extras["stream_options"] = stream_extras
    reasoning = None
    effort = opt_str(body, "reasoning_effort", "")
    if effort is not None and effort in _EFFORTS:
        reasoning = Reasoning(effort=_EFFORTS[effort])
    elif effort is not None:
        extras["reasoning_effort"] = effort
    return ChatRequest(
        model=name,
        messages=messages,
        system=system,
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls", ""),
        max_tokens=_max_tokens(body),
        temperature=opt_number(body, "temperature", ""),
        top_p=opt_number(body, "top_p", ""),
        stop=_stop(body.get("stop")),
        stream=stream if stream is not None else bool(stream_flag),
        include_usage=include_usage,
        response_format=_response_format(body.get("response_format")),
        reasoning=reasoning,
        metadata=_metadata(body.get("metadata")),
        user=opt_str(body, "user", ""),
        extras=extras,
        extras_format="openai",
    )


def _extras(body: dict[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for key, value in body.items():
        if key in _HANDLED or key in _INFORMATIONAL or _is_default(key, value):
            continue
        extras[key] = value
    return extras


def _is_default(key: str, value: Any) -> bool:
    if value is None:
        return True
    if key not in _DEFAULTS:
        return False
    default = _DEFAULTS[key]
    if isinstance(default, bool) or isinstance(value, bool):
        return value is default
    return bool(value == default)


# ---- messages ------------------------------------------------------------------------


def _messages(raw: Any) -> tuple[list[TextPart], list[Message]]:
    if raw is None:
        raise BadRequest("messages: required", param="messages")
    items = as_array(raw, "messages")
    if not items:
        raise BadRequest("messages: must contain at least one message", param="messages")
    system: list[TextPart] = []
    messages: list[Message] = []
    tool_names: dict[str, str] = {}
    for i, msg in enumerate(items):
        if type(msg) is not dict:
            raise fail(f"messages[{i}]", "an object")
        if not msg.keys() <= _PLAIN_MESSAGE_KEYS:
            _refuse_message_fields(msg, i)
        role = msg.get("role")
        content = msg.get("content")
        if role == "user":
            user: list[Part] = (
                [TextPart(content)] if type(content) is str else _user_content(content, f"messages[{i}].content")
            )
            messages.append(Message("user", user))
        elif role == "assistant":
            parts = _assistant_parts(msg, f"messages[{i}]")
            tool_names.update((p.id, p.name) for p in parts if isinstance(p, ToolCall))
            messages.append(Message("assistant", parts))
        elif role == "tool":
            call_id = req_str(msg, "tool_call_id", f"messages[{i}]")
            texts: list[TextPart | ImagePart] = (
                [TextPart(content)] if type(content) is str else list(_text_parts(content, f"messages[{i}].content"))
            )
            messages.append(Message("tool", [ToolResult(call_id=call_id, content=texts, name=tool_names.get(call_id))]))
        elif role == "system" or role == "developer":
            system.extend(
                [TextPart(content)] if type(content) is str else _text_parts(content, f"messages[{i}].content")
            )
        else:
            _bad_role(msg, i)
    return system, messages


def _refuse_message_fields(msg: dict[str, Any], i: int) -> None:
    for key in ("name", "audio", "function_call"):
        if msg.get(key) is not None:
            raise unsupported(f"messages[{i}].{key}", f"the message field {key!r}")


def _bad_role(msg: dict[str, Any], i: int) -> None:
    path = f"messages[{i}]"
    role = req_str(msg, "role", path)
    if role == "function":
        raise unsupported(f"{path}.role", "the legacy 'function' role (use 'tool')")
    raise BadRequest(
        f"{path}.role: unknown role {role!r}; expected system, developer, user, assistant or tool",
        param=f"{path}.role",
    )


def _text_parts(raw: Any, path: str) -> list[TextPart]:
    if isinstance(raw, str):
        return [TextPart(raw)]
    if not isinstance(raw, list):
        raise fail(path, "a string or an array of text content parts")
    out: list[TextPart] = []
    for j, item in enumerate(raw):
        part_path = f"{path}[{j}]"
        part = as_object(item, part_path)
        kind = req_str(part, "type", part_path)
        if kind != "text":
            raise fail(f"{part_path}.type", f"'text' (got {kind!r})")
        out.append(TextPart(req_str(part, "text", part_path)))
    return out


def _user_content(raw: Any, path: str) -> list[Part]:
    if isinstance(raw, str):
        return [TextPart(raw)]
    if not isinstance(raw, list):
        raise fail(path, "a string or an array of content parts")
    out: list[Part] = []
    for j, item in enumerate(raw):
        part_path = f"{path}[{j}]"
        part = as_object(item, part_path)
        kind = req_str(part, "type", part_path)
        if kind == "text":
            out.append(TextPart(req_str(part, "text", part_path)))
        elif kind == "image_url":
            image = as_object(part.get("image_url"), f"{part_path}.image_url")
            url = req_str(image, "url", f"{part_path}.image_url")
            out.append(ImagePart(url=url, detail=opt_str(image, "detail", f"{part_path}.image_url")))
        elif kind in ("input_audio", "file"):
            raise unsupported(f"{part_path}.type", f"the content part type {kind!r}")
        else:
            raise BadRequest(
                f"{part_path}.type: unknown content part type {kind!r}; expected text or image_url",
                param=f"{part_path}.type",
            )
    return out


def _assistant_parts(msg: dict[str, Any], path: str) -> list[Part]:
    parts: list[Part] = []
    reasoning = opt_str(msg, "reasoning_content", path)
    if reasoning:
        parts.append(Thinking(reasoning))
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            parts.append(TextPart(content))
    elif isinstance(content, list):
        for j, item in enumerate(content):
            part_path = f"{path}.content[{j}]"
            part = as_object(item, part_path)
            kind = req_str(part, "type", part_path)
            if kind == "text":
                parts.append(TextPart(req_str(part, "text", part_path)))
            elif kind == "refusal":
                parts.append(Refusal(req_str(part, "refusal", part_path)))
            else:
                raise fail(f"{part_path}.type", f"'text' or 'refusal' (got {kind!r})")
    elif content is not None:
        raise fail(f"{path}.content", "a string, an array of content parts or null")
    refusal = opt_str(msg, "refusal", path)
    if refusal:
        parts.append(Refusal(refusal))
    calls = msg.get("tool_calls")
    if calls is not None:
        for j, item in enumerate(as_array(calls, f"{path}.tool_calls")):
            parts.append(_tool_call(item, f"{path}.tool_calls[{j}]"))
    return parts


def _tool_call(raw: Any, path: str) -> ToolCall:
    call = as_object(raw, path)
    kind = opt_str(call, "type", path) or "function"
    if kind != "function":
        raise unsupported(f"{path}.type", f"the tool call type {kind!r}")
    function = as_object(call.get("function"), f"{path}.function")
    return ToolCall(
        id=req_str(call, "id", path),
        name=req_str(function, "name", f"{path}.function"),
        arguments=opt_str(function, "arguments", f"{path}.function") or "",
    )


# ---- tools and options ---------------------------------------------------------------


def _tools(raw: Any) -> list[Tool]:
    if raw is None:
        return []
    tools: list[Tool] = []
    for i, item in enumerate(as_array(raw, "tools")):
        path = f"tools[{i}]"
        tool = as_object(item, path)
        kind = req_str(tool, "type", path)
        if kind != "function":
            raise unsupported(f"{path}.type", f"the tool type {kind!r}")
        function = as_object(tool.get("function"), f"{path}.function")
        fpath = f"{path}.function"
        parameters = opt_object(function, "parameters", fpath)
        tools.append(
            Tool(
                name=req_str(function, "name", fpath),
                description=opt_str(function, "description", fpath),
                parameters=parameters if parameters is not None else dict(_NO_PARAMETERS),
                strict=opt_bool(function, "strict", fpath),
            )
        )
    return tools


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in _CHOICE_MODES:
            raise fail("tool_choice", f"'auto', 'none', 'required' or an object (got {raw!r})")
        return ToolChoice(_CHOICE_MODES[raw])
    choice = as_object(raw, "tool_choice")
    kind = req_str(choice, "type", "tool_choice")
    if kind != "function":
        raise unsupported("tool_choice.type", f"the tool choice type {kind!r}")
    function = as_object(choice.get("function"), "tool_choice.function")
    return ToolChoice("tool", name=req_str(function, "name", "tool_choice.function"))


def _max_tokens(body: dict[str, Any]) -> int | None:
    completion = output_cap(body.get("max_completion_tokens"), "max_completion_tokens")
    legacy = output_cap(body.get("max_tokens"), "max_tokens")
    if completion is not None and legacy is not None and completion != legacy:
        raise BadRequest("max_tokens: conflicts with max_completion_tokens; set only one of them", param="max_tokens")
    return completion if completion is not None else legacy


def _stop(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return list(raw)
    raise fail("stop", "a string or an array of strings")


def _stream_options(body: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    options = opt_object(body, "stream_options", "")
    if options is None:
        return False, {}
    include_usage = bool(opt_bool(options, "include_usage", "stream_options"))
    rest = {k: v for k, v in options.items() if k not in ("include_usage", "include_obfuscation") and v is not None}
    return include_usage, rest


def _response_format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    fmt = as_object(raw, "response_format")
    kind = req_str(fmt, "type", "response_format")
    if kind == "text":
        return ResponseFormat("text")
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema":
        raise fail("response_format.type", f"'text', 'json_object' or 'json_schema' (got {kind!r})")
    spec = as_object(fmt.get("json_schema"), "response_format.json_schema")
    path = "response_format.json_schema"
    if spec.get("description") is not None:
        raise unsupported(f"{path}.description", "a json_schema description")
    return ResponseFormat(
        "json_schema",
        schema=opt_object(spec, "schema", path),
        name=req_str(spec, "name", path),
        strict=opt_bool(spec, "strict", path),
    )


def _metadata(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    meta = as_object(raw, "metadata")
    return {k: as_str(v, f"metadata.{k}") for k, v in meta.items()}
