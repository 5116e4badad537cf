"""``POST /v1/messages/count_tokens``: the request, a local estimate, and the exact upstream call.

The body is a Messages body without ``max_tokens`` (model, messages, system, tools,
tool_choice, thinking); the response is ``{"input_tokens": N}``.

``count_tokens`` is an *estimate* (about 4 characters per token over system, messages,
tool calls/results and tool schemas, plus a fixed cost per image, per message and for
the tool-use preamble). It is what the gateway answers when the routed upstream is not
Anthropic; when it is, ``build_count_tokens_request`` asks Anthropic for the exact count.
"""

from __future__ import annotations

from typing import Final

import orjson

from engine.canonical import ChatRequest, ImagePart, ToolCall, ToolResult
from engine.errors import UpstreamError
from providers.anthropic.request_decoder import decode_request
from providers.anthropic.request_encoder import build_body
from providers.base import Endpoint

CHARS_PER_TOKEN: Final = 4
IMAGE_TOKENS: Final = 1600  # Anthropic's cost of an image at its maximum size
MESSAGE_TOKENS: Final = 4  # role and turn framing
TOOLS_PREAMBLE_TOKENS: Final = 300  # the system prompt Anthropic adds when tools are given

# The Messages fields count_tokens accepts; the others (max_tokens, sampling, stop
# sequences, metadata...) do not change the prompt, so they are not sent.
_COUNTED: Final = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "cache_control", "speed"}
)


def decode_count_tokens_request(body: object) -> ChatRequest:
    return decode_request(body, require_max_tokens=False)


def count_tokens(request: ChatRequest) -> int:
    chars = sum(len(part.text) for part in request.system)
    images = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, ImagePart):
                images += 1
            elif isinstance(part, ToolCall):
                chars += len(part.name) + len(part.arguments)
            elif isinstance(part, ToolResult):
                for item in part.content:
                    if isinstance(item, ImagePart):
                        images += 1
                    else:
                        chars += len(item.text)
            else:
                chars += len(part.text)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description or "") + len(orjson.dumps(tool.parameters))
    tokens = -(-chars // CHARS_PER_TOKEN) + images * IMAGE_TOKENS + MESSAGE_TOKENS * len(request.messages)
    return tokens + (TOOLS_PREAMBLE_TOKENS if request.tools else 0)


def encode_count_tokens(input_tokens: int) -> bytes:
    return orjson.dumps({"input_tokens": input_tokens})


def count_tokens_body(request: ChatRequest, endpoint: Endpoint) -> bytes:
    body = build_body(request, endpoint)
    return orjson.dumps({key: value for key, value in body.items() if key in _COUNTED})


def decode_count_tokens_response(body: bytes) -> int:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    value = data.get("input_tokens") if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise UpstreamError("server", "anthropic count_tokens response has no integer input_tokens")
    return value
