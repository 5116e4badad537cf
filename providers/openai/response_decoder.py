"""An OpenAI ``chat.completion`` body from an upstream -> ``ChatResponse``.

Parts come out in the order reasoning (``reasoning_content``, or ``reasoning`` as vLLM and
OpenRouter name it) -> text -> refusal -> tool calls. A completion that refused ends with
stop reason "refusal". ``annotations`` (URL citations) have no canonical place and are not
carried; the request side refuses ``web_search_options`` for this reason.

A body that is not a completion (malformed JSON, no choices) is a "server" failure; a 200
that carries an ``error`` object (some compatible servers do this) is classified like an
HTTP error; several choices cannot be carried and fail rather than lose all but one.
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
from providers.openai.error_classifier import classify_in_band
from providers.openai.usage import parse_usage
from providers.openai.wire import STOP_REASON


def decode_chat_response(body: bytes, upstream_model: str) -> ChatResponse:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("server", "upstream sent a response that is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamError("server", "upstream sent a response that is not a JSON object")
    if data.get("error"):
        raise classify_in_band(data["error"])
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamError("server", "upstream response has no choices")
    if len(choices) > 1:
        raise UpstreamError("server", f"upstream returned {len(choices)} choices; only one can be relayed")
    choice = choices[0]
    message = choice.get("message")
    parts = message_parts(message if isinstance(message, dict) else {})
    return ChatResponse(
        id=_str(data.get("id")),
        model=_str(data.get("model")) or upstream_model,
        parts=parts,
        stop_reason=stop_reason(choice.get("finish_reason"), refused=any(isinstance(p, Refusal) for p in parts)),
        usage=parse_usage(data.get("usage")),
        created=_int(data.get("created")),
    )


def message_parts(message: dict[str, Any]) -> list[Part]:
    parts: list[Part] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(Thinking(reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        parts.append(TextPart(content))
    elif isinstance(content, list):  # some compatible servers answer with text parts
        for item in content:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append(TextPart(item["text"]))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(Refusal(refusal))
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for n, call in enumerate(calls):
            if not isinstance(call, dict):
                continue
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            parts.append(
                ToolCall(
                    id=_str(call.get("id")) or f"call_{n}",
                    name=_str(function.get("name")),
                    arguments=_str(function.get("arguments")),
                )
            )
    return parts


def stop_reason(finish_reason: Any, *, refused: bool) -> StopReason:
    reason = STOP_REASON.get(finish_reason, "end") if isinstance(finish_reason, str) else "end"
    return "refusal" if refused and reason == "end" else reason


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
