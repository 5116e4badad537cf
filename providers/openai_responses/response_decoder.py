"""An upstream ``Response`` object (non-streamed) as a canonical ``ChatResponse``.

Output items: ``message`` -> one text part per ``output_text`` and one refusal per
``refusal`` content; ``function_call`` -> ``ToolCall`` (``call_id`` is the canonical id);
``reasoning`` -> ``Thinking`` (summary texts joined by a blank line, else the raw
``reasoning_text`` content; ``encrypted_content`` as the signature), skipped when it has
neither text nor encrypted content.

Hosted-tool trace items (web search, file search, code interpreter, MCP calls and tool
lists) are skipped: the upstream already ran them and their results are in the message
text; their annotations (citations) are not carried either, the canonical text part has
no place for them. Items that need the client to act or carry non-text results (custom
tool calls, computer use, shell, image generation, MCP approval requests) cannot be
translated and fail the attempt as ``bad_request``.

Stop reason: ``incomplete`` with ``max_output_tokens`` -> ``length``, with
``content_filter`` -> ``content_filter``; otherwise ``tool_use`` when a function call is
present, ``refusal`` when a refusal is, else ``end``. A ``failed`` response raises its
error.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import (
    ChatResponse,
    Part,
    Refusal,
    StopReason,
    TextPart,
    Thinking,
    ToolCall,
)
from engine.errors import UpstreamError
from providers.openai_responses.error_classifier import classify_inband
from providers.openai_responses.wire import (
    JSONObject,
    WireError,
    as_list,
    as_object,
    opt_float,
    opt_object,
    opt_str,
    req_str,
    usage_from_wire,
)

TRACE_ITEMS = frozenset({"web_search_call", "file_search_call", "code_interpreter_call", "mcp_call", "mcp_list_tools"})


def decode_response(body: bytes) -> ChatResponse:
    try:
        data = as_object(orjson.loads(body), "response")
        return response_from_object(data)
    except (orjson.JSONDecodeError, WireError) as exc:
        raise UpstreamError("server", f"malformed upstream response: {exc}") from exc


def response_from_object(data: JSONObject) -> ChatResponse:
    """Raises ``WireError`` for a malformed object and ``UpstreamError`` for a failed one."""
    status = opt_str(data, "status", "response")
    if status == "failed":
        raise failure(data)
    if status not in (None, "completed", "incomplete"):
        raise UpstreamError("bad_request", f"upstream response is '{status}', not finished (background mode?)")
    parts: list[Part] = []
    for i, raw in enumerate(as_list(data.get("output", []), "response.output")):
        parts.extend(item_parts(as_object(raw, f"response.output[{i}]"), f"response.output[{i}]"))
    return ChatResponse(
        id=req_str(data, "id", "response"),
        model=req_str(data, "model", "response"),
        parts=parts,
        stop_reason=stop_reason(data, parts),
        usage=usage_from_wire(data.get("usage"), "response.usage"),
        created=int(opt_float(data, "created_at", "response") or 0),
    )


def item_parts(item: JSONObject, path: str) -> list[Part]:
    kind = req_str(item, "type", path)
    if kind == "message":
        parts: list[Part] = []
        for j, raw in enumerate(as_list(item.get("content", []), f"{path}.content")):
            content = as_object(raw, f"{path}.content[{j}]")
            ckind = req_str(content, "type", f"{path}.content[{j}]")
            if ckind == "output_text":
                parts.append(TextPart(req_str(content, "text", f"{path}.content[{j}]")))
            elif ckind == "refusal":
                parts.append(Refusal(req_str(content, "refusal", f"{path}.content[{j}]")))
            else:
                raise untranslatable(f"message content of type '{ckind}'")
        return parts
    if kind == "function_call":
        call = ToolCall(
            id=req_str(item, "call_id", path),
            name=req_str(item, "name", path),
            arguments=opt_str(item, "arguments", path) or "",
        )
        return [call]
    if kind == "reasoning":
        thinking = reasoning_part(item, path)
        return [thinking] if thinking is not None else []
    check_item_kind(kind)
    return []


def reasoning_part(item: JSONObject, path: str) -> Thinking | None:
    texts = _texts(item.get("summary"), f"{path}.summary")
    if not texts:
        texts = _texts(item.get("content"), f"{path}.content")
    signature = opt_str(item, "encrypted_content", path)
    text = "\n\n".join(texts)
    if not text and not signature:
        return None
    return Thinking(text=text, signature=signature or None)


def check_item_kind(kind: str) -> None:
    """Accept a skippable trace item; raise for one the gateway cannot translate."""
    if kind not in TRACE_ITEMS:
        raise untranslatable(f"an output item of type '{kind}'")


def untranslatable(what: str) -> UpstreamError:
    return UpstreamError("bad_request", f"the upstream answered with {what}, which the gateway cannot translate")


def stop_reason(data: JSONObject, parts: list[Part]) -> StopReason:
    if data.get("status") == "incomplete":
        details = opt_object(data, "incomplete_details", "response") or {}
        reason = details.get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    if any(isinstance(p, ToolCall) for p in parts):
        return "tool_use"
    if any(isinstance(p, Refusal) for p in parts):
        return "refusal"
    return "end"


def failure(data: JSONObject) -> UpstreamError:
    """The ``UpstreamError`` for a ``failed`` response object."""
    error = data.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return classify_inband(code if isinstance(code, str) else None, message if isinstance(message, str) else None)
    return classify_inband(None, "the upstream response failed without an error")


def _texts(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    return [
        req_str(as_object(raw, f"{path}[{j}]"), "text", f"{path}[{j}]") for j, raw in enumerate(as_list(value, path))
    ]
