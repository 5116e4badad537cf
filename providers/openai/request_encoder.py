"""``ChatRequest`` -> an OpenAI chat-completions request body (upstream side, format "openai").

The inverse of ``request_decoder``, with these translations for requests that came in
another client format:

* ``system`` parts become one leading ``system`` message; a positioned ``system`` message
  is a ``system`` message at the same position (moved after the tool results when it
  interrupts a tool call and its results, see ``providers.system_turns``).
* Tool results become ``tool`` messages, placed before any other content of the same
  message (Anthropic puts them inside user turns; OpenAI wants them right after the
  assistant's tool calls). ``is_error`` is kept as an ``Error: `` prefix on the content.
* Thinking parts of earlier assistant turns are not sent: the OpenAI chat format has no
  input field for them (reasoning models do not take their earlier reasoning back).
* ``reasoning.budget_tokens`` without an effort becomes ``reasoning_effort`` (0 -> minimal,
  under 2048 -> low, under 8192 -> medium, else high; negative = dynamic -> not sent).
  ``include_thoughts`` is a hint OpenAI-compatible servers that return
  ``reasoning_content`` honour anyway; OpenAI itself never shows reasoning text.
* ``max_tokens`` is sent as ``max_completion_tokens`` (reasoning models refuse
  ``max_tokens``), or as ``max_tokens`` for channels that set ``max_tokens_field`` so
  (OpenAI-compatible servers that know only that one).

* ``cache_key`` (an agent session) is ``prompt_cache_key``, so one session's requests
  reach the same prompt cache; ``hints`` of other formats are left out.

``extras`` are forwarded only when they came from an OpenAI client, and not those whose
answer the canonical response cannot carry (several choices, logprobs, audio, legacy
function calls, web-search annotations): those need a same-format passthrough route.
Channel ``params`` are merged last; ``model`` and, when streaming,
``stream_options.include_usage = true`` (the gateway meters every stream) are then forced.
"""

from __future__ import annotations

from typing import Any

from engine.canonical import (
    ChatRequest,
    ImagePart,
    Message,
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
from engine.errors import UnsupportedFeature
from providers import system_turns
from providers.base import Endpoint
from providers.openai.wire import FORMAT


def encode_chat_request(request: ChatRequest, endpoint: Endpoint) -> dict[str, Any]:
    body: dict[str, Any] = {"model": endpoint.upstream_model, "messages": _messages(request)}
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.max_tokens is not None:
        body[endpoint.max_tokens_field] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    if request.response_format is not None:
        body["response_format"] = _response_format(request.response_format)
    if request.reasoning is not None:
        effort = _effort(request.reasoning)
        if effort is not None:
            body["reasoning_effort"] = effort
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    if request.user is not None:
        body["user"] = request.user
    if request.cache_key is not None:
        body["prompt_cache_key"] = request.cache_key
    if request.extras:
        body.update(_forwardable_extras(request))
    body.update(endpoint.params)
    body["model"] = endpoint.upstream_model
    if request.stream:
        body["stream"] = True
        options = body.get("stream_options")
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    else:
        body.pop("stream", None)
    return body


def _forwardable_extras(request: ChatRequest) -> dict[str, Any]:
    extras = request.extras
    if request.extras_format != FORMAT:
        raise UnsupportedFeature(list(extras), FORMAT)
    refused = [key for key, value in extras.items() if _needs_passthrough(key, value)]
    if refused:
        raise UnsupportedFeature(refused, FORMAT)
    return extras


def _needs_passthrough(key: str, value: Any) -> bool:
    """Extras whose answer has no place in a ``ChatResponse`` (it would be lost)."""
    if key == "n":
        return bool(value != 1)
    if key == "logprobs":
        return value is True
    if key == "modalities":
        return isinstance(value, list) and any(m != "text" for m in value)
    return key in ("top_logprobs", "audio", "functions", "function_call", "web_search_options")


# ---- messages ------------------------------------------------------------------------


def _messages(request: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": _text_content(request.system)})
    for i, message in enumerate(system_turns.after_tool_results(request.messages)):
        if message.role == "assistant":
            out.append(_assistant(message, i))
        elif message.role == "system":
            out.append({"role": "system", "content": _text_content(system_turns.text_parts(message))})
        else:
            out.extend(_user_or_tool(message, i))
    return out


def _assistant(message: Message, i: int) -> dict[str, Any]:
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ToolCall):
            calls.append(
                {"id": part.id, "type": "function", "function": {"name": part.name, "arguments": part.arguments}}
            )
        elif isinstance(part, Refusal):
            refusals.append(part.text)
        elif isinstance(part, Thinking):
            continue  # see the module docstring
        else:
            raise UnsupportedFeature([f"messages[{i}]: {_kind(part)} in an assistant turn"], FORMAT)
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if refusals:
        out["refusal"] = "".join(refusals)
    if calls:
        out["tool_calls"] = calls
    return out


def _user_or_tool(message: Message, i: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    content: list[TextPart | ImagePart] = []
    for part in message.parts:
        if isinstance(part, ToolResult):
            out.append({"role": "tool", "tool_call_id": part.call_id, "content": _tool_result(part, i)})
        elif isinstance(part, TextPart | ImagePart):
            content.append(part)
        else:
            raise UnsupportedFeature([f"messages[{i}]: {_kind(part)} in a {message.role} turn"], FORMAT)
    if content:
        out.append({"role": "user", "content": _user_content(content)})
    return out


def _tool_result(result: ToolResult, i: int) -> str | list[dict[str, Any]]:
    texts: list[TextPart] = []
    for part in result.content:
        if isinstance(part, ImagePart):
            raise UnsupportedFeature([f"messages[{i}]: image in a tool result"], FORMAT)
        texts.append(part)
    if result.is_error:
        first = texts[0].text if texts else ""
        texts = [TextPart(f"Error: {first}" if first else "Error"), *texts[1:]]
    if not texts:
        return ""
    return _text_content(texts)


def _text_content(parts: list[TextPart]) -> str | list[dict[str, Any]]:
    if len(parts) == 1:
        return parts[0].text
    return [{"type": "text", "text": p.text} for p in parts]


def _user_content(parts: list[TextPart | ImagePart]) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            out.append({"type": "text", "text": part.text})
        else:
            image: dict[str, Any] = {"url": part.url}
            if part.detail is not None:
                image["detail"] = part.detail
            out.append({"type": "image_url", "image_url": image})
    return out


_KINDS: dict[type, str] = {
    TextPart: "text",
    ImagePart: "image",
    ToolCall: "tool call",
    ToolResult: "tool result",
    Thinking: "thinking",
    Refusal: "refusal",
}


def _kind(part: object) -> str:
    return _KINDS.get(type(part), type(part).__name__)


# ---- tools and options ---------------------------------------------------------------


def _tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def _response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.kind != "json_schema":
        return {"type": fmt.kind}
    spec: dict[str, Any] = {"name": fmt.name or "response"}
    if fmt.schema is not None:
        spec["schema"] = fmt.schema
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def _effort(reasoning: Reasoning) -> str | None:
    if reasoning.effort is not None:
        return reasoning.effort
    budget = reasoning.budget_tokens
    if budget is None or budget < 0:  # Gemini's -1 means "dynamic": leave it to the model
        return None
    if budget == 0:
        return "minimal"
    if budget < 2048:
        return "low"
    return "medium" if budget < 8192 else "high"
