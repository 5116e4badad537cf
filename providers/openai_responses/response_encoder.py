"""Canonical output as a Responses ``Response`` object and its output items.

Used by the codec for non-streamed answers and by the stream encoder for the
``response`` snapshots and items its events carry. Each canonical part becomes one
output item, in order: text -> ``message`` (one ``output_text``), refusal -> ``message``
(one ``refusal``), tool call -> ``function_call`` (in the client's ``namespace``, or a
``custom_tool_call`` for a free-form tool: see ``client_tools``), thinking -> ``reasoning`` (summary
text, ``encrypted_content`` from the signature). ``stop_reason`` ``length`` and
``content_filter`` make the response ``incomplete`` with that reason, and so does a
``refusal`` with no refusal text (reason ``content_filter``); the rest are
``completed``. The request settings the real API echoes (tools, tool_choice, sampling,
text format, reasoning...) are echoed from the canonical request as far as known; the
gateway never stores a response, so ``store`` is always ``false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from engine.canonical import (
    ChatRequest,
    ChatResponse,
    ClientToolShape,
    Part,
    Refusal,
    StopReason,
    TextPart,
    Thinking,
    ToolCall,
    Usage,
)
from engine.errors import GatewayError
from providers.openai_responses.client_tools import call_item, shapes
from providers.openai_responses.wire import (
    FORMAT,
    JSONObject,
    encrypted_content,
    item_id,
    response_id,
    usage_to_wire,
)

ItemStatus = Literal["in_progress", "completed", "incomplete"]
_ECHOED_EXTRAS = (
    "previous_response_id", "truncation", "service_tier", "background", "max_tool_calls",
    "prompt_cache_key", "safety_identifier", "top_logprobs", "conversation", "prompt",
)  # fmt: skip


def encode_response(response: ChatResponse, request: ChatRequest) -> JSONObject:
    resp_id = response_id(response.id)
    tool_shapes = shapes(request.tools)
    items = [output_item(resp_id, index, part, "completed", tool_shapes) for index, part in enumerate(response.parts)]
    head = ResponseHead(resp_id, response.model, response.created)
    return response_object(head, request, items, stop_reason=response.stop_reason, usage=response.usage)


class ResponseHead(NamedTuple):
    """What names a ``Response`` object: its id, the public model and when it was created."""

    id: str
    model: str
    created: int


def response_object(
    head: ResponseHead,
    request: ChatRequest,
    output: list[JSONObject],
    *,
    stop_reason: StopReason | None = None,
    usage: Usage | None = None,
    failed: JSONObject | None = None,
) -> JSONObject:
    """The full object; ``stop_reason=None`` and no ``failed`` means still in progress."""
    status: str = "in_progress"
    incomplete: JSONObject | None = None
    if failed is not None:
        status = "failed"
    elif stop_reason is not None and (reason := incomplete_reason(stop_reason, output)) is not None:
        status = "incomplete"
        incomplete = {"reason": reason}
    elif stop_reason is not None:
        status = "completed"
    obj: JSONObject = {
        "id": head.id,
        "object": "response",
        "created_at": head.created,
        "status": status,
        "error": failed,
        "incomplete_details": incomplete,
        "model": head.model,
        "output": output,
    }
    obj.update(settings_echo(request))
    obj["usage"] = usage_to_wire(usage) if usage is not None else None
    return obj


def incomplete_reason(stop_reason: StopReason, output: list[JSONObject]) -> str | None:
    """Why a finished response is ``incomplete``, or None when it is ``completed``.

    A refusal the model wrote (a ``refusal`` content part, as OpenAI's own) completes the
    response; a refusal without one (Anthropic's ``stop_reason: refusal``: a classifier
    stopped the answer) is the ``content_filter`` outcome, like a content filter's stop."""
    if stop_reason == "length":
        return "max_output_tokens"
    if stop_reason == "content_filter" or (stop_reason == "refusal" and not _has_refusal_content(output)):
        return "content_filter"
    return None


def _has_refusal_content(output: list[JSONObject]) -> bool:
    return any(
        isinstance(content, dict) and content.get("type") == "refusal"
        for item in output
        if item.get("type") == "message"
        for content in item.get("content") or ()
    )


def settings_echo(request: ChatRequest) -> JSONObject:
    extras = request.extras if request.extras_format == FORMAT else {}
    instructions = "\n\n".join(p.text for p in request.system) if request.system else None
    echo: JSONObject = {
        "instructions": instructions,
        "max_output_tokens": request.max_tokens,
        "metadata": dict(request.metadata),
        "parallel_tool_calls": request.parallel_tool_calls if request.parallel_tool_calls is not None else True,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "tool_choice": _tool_choice_echo(request, extras),
        "tools": [_function_tool(t.name, t.description, t.parameters, t.strict) for t in request.tools]
        + [h.spec for h in request.hosted_tools if h.format == FORMAT]
        + list(extras.get("tools", [])),
        "text": _text_echo(request, extras),
        "reasoning": _reasoning_echo(request, extras),
        "store": False,
        "user": request.user,
    }
    for key in _ECHOED_EXTRAS:
        if key in extras:
            echo[key] = extras[key]
    return echo


def output_item(
    resp_id: str,
    index: int,
    part: Part,
    status: ItemStatus,
    tool_shapes: Mapping[str, ClientToolShape] | None = None,
) -> JSONObject:
    """The output item for one finished (or, with ``in_progress``, just started) part;
    ``tool_shapes`` (flat name -> the client's shape) restores the client's tool calls."""
    if isinstance(part, TextPart):
        content = [text_content(part.text)] if status != "in_progress" else []
        return message_item(item_id("msg", resp_id, index), content, status)
    if isinstance(part, Refusal):
        content = [refusal_content(part.text)] if status != "in_progress" else []
        return message_item(item_id("msg", resp_id, index), content, status)
    if isinstance(part, ToolCall):
        shape = tool_shapes.get(part.name) if tool_shapes else None
        prefix = "ctc" if shape is not None and shape.freeform else "fc"
        return call_item(part, shape, item_id(prefix, resp_id, index), status, done=status != "in_progress")
    if isinstance(part, Thinking):
        item: JSONObject = {"id": item_id("rs", resp_id, index), "type": "reasoning", "summary": []}
        if status != "in_progress":
            if part.text:
                item["summary"] = [summary_content(part.text)]
            encrypted = encrypted_content(part.signature, part.redacted, part.origin)
            if encrypted is not None:
                item["encrypted_content"] = encrypted
        return item
    raise GatewayError(
        f"the upstream answered with a {type(part).__name__}, which the Responses format cannot carry",
        status=502,
        kind="upstream_error",
    )


def message_item(msg_id: str, content: list[JSONObject], status: ItemStatus) -> JSONObject:
    return {"id": msg_id, "type": "message", "status": status, "content": content, "role": "assistant"}


def text_content(text: str) -> JSONObject:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def refusal_content(text: str) -> JSONObject:
    return {"type": "refusal", "refusal": text}


def summary_content(text: str) -> JSONObject:
    return {"type": "summary_text", "text": text}


def _function_tool(name: str, description: str | None, parameters: dict[str, Any], strict: bool | None) -> JSONObject:
    """A tool as the model was offered it (namespaced and custom tools under their flat names)."""
    tool: JSONObject = {"type": "function", "name": name, "parameters": parameters, "strict": strict}
    if description is not None:
        tool["description"] = description
    return tool


def _tool_choice_echo(request: ChatRequest, extras: JSONObject) -> Any:
    choice = request.tool_choice
    if choice is None:
        return extras.get("tool_choice", "auto")
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name}
    return choice.mode


def _text_echo(request: ChatRequest, extras: JSONObject) -> JSONObject:
    fmt = request.response_format
    wire_fmt: JSONObject = {"type": "text"}
    if fmt is not None and fmt.kind == "json_object":
        wire_fmt = {"type": "json_object"}
    elif fmt is not None and fmt.kind == "json_schema":
        wire_fmt = {
            "type": "json_schema",
            "name": fmt.name or "response",
            "schema": fmt.schema or {},
            "strict": fmt.strict,
        }
        if "text.format.description" in extras:
            wire_fmt["description"] = extras["text.format.description"]
    text: JSONObject = {"format": wire_fmt}
    if "text.verbosity" in extras:
        text["verbosity"] = extras["text.verbosity"]
    return text


def _reasoning_echo(request: ChatRequest, extras: JSONObject) -> JSONObject:
    reasoning = request.reasoning
    effort = extras.get("reasoning.effort", reasoning.effort if reasoning else None)
    summary = extras.get("reasoning.summary")
    if summary is None and reasoning is not None and reasoning.include_thoughts:
        summary = "auto"
    return {"effort": effort, "summary": summary}
