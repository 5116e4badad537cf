"""A ``ChatResponse`` -> an OpenAI ``chat.completion`` body (client side, format "openai").

``model`` is ``ChatResponse.model`` as given: the executor sets it to the public model id
that served, as the passthrough path reports it. Text parts are concatenated into
``message.content`` as produced. Refusals go to ``message.refusal`` with finish reason
"stop"; a refusal stop without refusal text reads as "content_filter". A tool call without
arguments gets ``"{}"`` (what OpenAI sends; clients parse it as JSON). Thinking text goes to
``message.reasoning_content`` (DeepSeek's convention, read by most OpenAI-compatible
clients); thinking signatures and redacted thinking have no place in this format and are not
sent. An image or tool result in the output cannot be represented and fails the response
rather than vanish.
"""

from __future__ import annotations

import orjson

from engine.canonical import (
    ChatResponse,
    ImagePart,
    Part,
    Refusal,
    TextPart,
    Thinking,
    ToolCall,
)
from engine.errors import GatewayError
from providers.openai.usage import usage_to_wire
from providers.openai.wire import (
    WireCompletion,
    WireMessage,
    WireToolCall,
    finish_reason,
)


def encode_chat_response(response: ChatResponse) -> bytes:
    message = wire_message(response.parts)
    body: WireCompletion = {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(response.stop_reason, has_refusal_text=bool(message.get("refusal"))),
            }
        ],
        "usage": usage_to_wire(response.usage),
    }
    return orjson.dumps(body)


def wire_message(parts: list[Part]) -> WireMessage:
    texts: list[str] = []
    refusals: list[str] = []
    thoughts: list[str] = []
    calls: list[WireToolCall] = []
    for part in parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, Refusal):
            refusals.append(part.text)
        elif isinstance(part, Thinking):
            if part.text:
                thoughts.append(part.text)
        elif isinstance(part, ToolCall):
            calls.append(
                {
                    "id": part.id,
                    "type": "function",
                    "function": {"name": part.name, "arguments": part.arguments or "{}"},
                }
            )
        else:
            what = "an image" if isinstance(part, ImagePart) else "a tool result"
            raise GatewayError(
                f"the upstream returned {what}, which the OpenAI chat format cannot carry",
                status=502,
                kind="upstream_error",
                code="unrepresentable_output",
            )
    message: WireMessage = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if calls:
        message["tool_calls"] = calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    return message
