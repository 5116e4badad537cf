"""A canonical ``ChatRequest`` as the JSON body of an upstream ``POST /responses``.

Mapping: system parts -> ``instructions`` (joined by a blank line); a positioned system
message -> a ``system`` input message at the same position (after the tool results when it
interrupts a tool call and its results); user text/images ->
``message`` items with ``input_text``/``input_image``; each assistant text or refusal ->
an assistant ``message`` item with string content (the form the API documents for
earlier assistant turns without item ids; a refusal is history text like any other);
tool calls -> ``function_call`` items; tool results ->
``function_call_output`` items (a string for a single text, else a list of parts); thinking
with a signature -> ``reasoning`` items carrying it as ``encrypted_content``;
``response_format`` -> ``text.format``; ``reasoning`` -> ``reasoning`` (effort, and
``summary: "auto"`` when thoughts are wanted); ``max_tokens`` -> ``max_output_tokens``;
``cache_key`` (an agent session) -> ``prompt_cache_key``.

Decided here:

* ``store`` is always ``false``: the gateway is stateless and must not leave
  conversations stored at the vendor. Reasoning therefore continues across turns only
  through ``encrypted_content``, so it is requested (``include``) whenever the request
  asks for reasoning (only reasoning models accept that ``include``).
* Item ids are never sent (with ``store: false`` there is nothing they could refer to),
  the way stateless Responses clients do it.
* Thinking without a signature (plain text, or another vendor's ``redacted`` payload), or
  with another vendor's (``Thinking.origin``), is left out of the input: the API only
  takes earlier reasoning back as its own encrypted content, and the model does not read
  its earlier reasoning text.
* ``reasoning.budget_tokens`` has no Responses equivalent; without an explicit effort it
  picks one (< 4096 tokens low, < 16384 medium, else high).
* A json_schema format without a name is sent as ``"response"`` (the API requires one).

Refused with ``UnsupportedFeature``: ``stop`` (no stop sequences in Responses), a tool
result flagged ``is_error`` (no such flag), assistant images, refusals outside assistant
turns, and any ``extras`` from
another client format. Hosted tools (``hosted_tools``) of a Responses client are sent as
they came; another format's are left out (the response names them). ``extras`` from a
Responses client are merged back: ``"tools"``
extends the tool list, dotted keys (``"reasoning.summary"``) set nested fields, other
keys are top-level fields. The channel's ``params`` are merged last, over everything.
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
    ToolCall,
    ToolResult,
)
from engine.errors import UnsupportedFeature
from providers import system_turns
from providers.openai_responses.wire import FORMAT, JSONObject

_ENCRYPTED_REASONING = "reasoning.encrypted_content"


def encode_request(request: ChatRequest, model: str, params: dict[str, Any]) -> JSONObject:
    """Raises ``UnsupportedFeature`` for anything the Responses API cannot carry."""
    unsupported: list[str] = []
    if request.stop:
        unsupported.append("stop")
    if request.extras and request.extras_format != FORMAT:
        unsupported.extend(request.extras)
    input_items = _input(request.messages, unsupported)
    if unsupported:
        raise UnsupportedFeature(sorted(set(unsupported)), FORMAT)

    body: JSONObject = {"model": model, "input": input_items, "store": False}
    if request.system:
        body["instructions"] = "\n\n".join(p.text for p in request.system)
    if request.tools:
        # Responses makes a function tool strict when `strict` is absent; every other
        # format defaults to non-strict, so an unset value from them is sent as false.
        native = request.extras_format == FORMAT
        body["tools"] = [
            _tool(t.name, t.description, t.parameters, t.strict if t.strict is not None or native else False)
            for t in request.tools
        ]
    hosted = [h.spec for h in request.hosted_tools if h.format == FORMAT]
    if hosted:
        body.setdefault("tools", []).extend(hosted)
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = {"type": "function", "name": choice.name} if choice.mode == "tool" else choice.mode
    _set(body, "parallel_tool_calls", request.parallel_tool_calls)
    _set(body, "max_output_tokens", request.max_tokens)
    _set(body, "temperature", request.temperature)
    _set(body, "top_p", request.top_p)
    if request.response_format is not None:
        body["text"] = {"format": _format(request.response_format)}
    reasoning = _reasoning(request.reasoning) if request.reasoning is not None else {}
    if reasoning:
        body["reasoning"] = reasoning
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    _set(body, "user", request.user)
    _set(body, "prompt_cache_key", request.cache_key)
    if request.stream:
        body["stream"] = True
    if request.extras_format == FORMAT:
        _merge_extras(body, request.extras)
        body.update(request.hints)
    reasoning = body.get("reasoning") or {}
    if reasoning and reasoning.get("effort") != "none":
        body["include"] = list(dict.fromkeys([_ENCRYPTED_REASONING, *body.get("include", [])]))
    body.update(params)
    return body


def _set(body: JSONObject, key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


def _tool(name: str, description: str | None, parameters: dict[str, Any], strict: bool | None) -> JSONObject:
    tool: JSONObject = {"type": "function", "name": name, "parameters": parameters}
    if description is not None:
        tool["description"] = description
    if strict is not None:
        tool["strict"] = strict
    return tool


def _format(fmt: ResponseFormat) -> JSONObject:
    if fmt.kind != "json_schema":
        return {"type": fmt.kind}
    wire: JSONObject = {"type": "json_schema", "name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        wire["strict"] = fmt.strict
    return wire


def _reasoning(reasoning: Reasoning) -> JSONObject:
    wire: JSONObject = {}
    effort = reasoning.effort
    if effort is None and reasoning.budget_tokens is not None:
        budget = reasoning.budget_tokens
        effort = "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    if effort is not None:
        wire["effort"] = effort
    if reasoning.include_thoughts:
        wire["summary"] = "auto"
    return wire


def _merge_extras(body: JSONObject, extras: dict[str, Any]) -> None:
    for key, value in extras.items():
        if key == "tools":
            body.setdefault("tools", []).extend(value)
        elif "." in key:
            *parents, leaf = key.split(".")
            node = body
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = value
        else:
            body[key] = value


# ---- input items ---------------------------------------------------------------------


def _input(messages: list[Message], unsupported: list[str]) -> list[JSONObject]:
    items: list[JSONObject] = []
    for message in system_turns.after_tool_results(messages):
        if message.role == "system":
            text = [{"type": "input_text", "text": p.text} for p in system_turns.text_parts(message)]
            items.append({"type": "message", "role": "system", "content": text})
            continue
        content: list[JSONObject] = []  # a user message's parts, until an item cuts it
        for part in message.parts:
            if isinstance(part, (TextPart, Refusal)) and message.role == "assistant":
                items.append({"type": "message", "role": "assistant", "content": part.text})
            elif isinstance(part, TextPart):
                content.append({"type": "input_text", "text": part.text})
            elif isinstance(part, ImagePart):
                if message.role == "assistant":
                    unsupported.append("assistant images")
                else:
                    content.append(_image(part))
            else:
                _flush(items, content)
                if isinstance(part, ToolCall):
                    items.append(
                        {"type": "function_call", "call_id": part.id, "name": part.name, "arguments": part.arguments}
                    )
                elif isinstance(part, ToolResult):
                    items.append(_tool_output(part, unsupported))
                elif isinstance(part, Refusal):
                    unsupported.append("user refusals")
                elif part.signature and part.origin in (None, FORMAT):
                    items.append(_reasoning_item(part))
        _flush(items, content)
    return items


def _flush(items: list[JSONObject], content: list[JSONObject]) -> None:
    if content:
        items.append({"type": "message", "role": "user", "content": list(content)})
        content.clear()


def _image(part: ImagePart) -> JSONObject:
    return {"type": "input_image", "image_url": part.url, "detail": part.detail or "auto"}


def _tool_output(result: ToolResult, unsupported: list[str]) -> JSONObject:
    if result.is_error:
        unsupported.append("tool_result.is_error")
    output: str | list[JSONObject]
    if not result.content:
        output = ""
    elif len(result.content) == 1 and isinstance(result.content[0], TextPart):
        output = result.content[0].text
    else:
        output = [
            {"type": "input_text", "text": p.text} if isinstance(p, TextPart) else _image(p) for p in result.content
        ]
    return {"type": "function_call_output", "call_id": result.call_id, "output": output}


def _reasoning_item(thinking: Thinking) -> JSONObject:
    summary = [{"type": "summary_text", "text": thinking.text}] if thinking.text else []
    return {"type": "reasoning", "summary": summary, "encrypted_content": thinking.signature}
