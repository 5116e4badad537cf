"""What the router knows about a request: the facts rules read, computed once per request.

Pure: canonical request in, ``RequestFacts`` out. The token estimate is deliberately
simple (about four characters a token, plus per-message and per-image overheads); it
drives context-window checks, cost estimates and reservations, never billing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from engine.canonical import (
    ChatRequest,
    ImagePart,
    Refusal,
    TextPart,
    Thinking,
    ToolCall,
    ToolResult,
)
from engine.policy.compiled import Kind

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE = 765  # a high-detail 1024px tile budget; an estimate, not a bill
_NONE: Mapping[str, str] = MappingProxyType({})  # the shared, read-only empty default
TEXT_LIMIT = 8192  # characters of the last user turn exposed to rules as request.text


class RequestFacts(NamedTuple):
    model: str
    estimated_tokens: int
    max_tokens: int | None
    stream: bool
    has_tools: bool
    has_images: bool
    wants_json: bool
    message_count: int
    text: str
    metadata: Mapping[str, str] = _NONE
    headers: Mapping[str, str] = _NONE
    kind: Kind = "chat"  # what the endpoint asks for: only models of this kind can serve it
    images: int = 0  # image requests: how many images are asked for, of what size and quality
    image_size: str = ""
    image_quality: str = ""

    def cel(self, default_max_tokens: int) -> dict[str, Any]:
        """The ``request`` variable CEL rules see; ``max_tokens`` falls back to the policy's
        assumed output size, so cost rules price the output of requests that give none."""
        return {
            "model": self.model,
            "estimated_tokens": self.estimated_tokens,
            "max_tokens": self.max_tokens or default_max_tokens,
            "stream": self.stream,
            "has_tools": self.has_tools,
            "has_images": self.has_images,
            "message_count": self.message_count,
            "text": self.text,
            "metadata": dict(self.metadata),
            "headers": dict(self.headers),
            "kind": self.kind,
        }


def _tokens(chars: int) -> int:
    return (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def request_facts(request: ChatRequest, headers: Mapping[str, str], allowed_headers: frozenset[str]) -> RequestFacts:
    chars = sum(len(p.text) for p in request.system)
    images = 0
    last_user_text = ""
    for message in request.messages:
        chars += TOKENS_PER_MESSAGE * CHARS_PER_TOKEN
        texts: list[str] = []
        for part in message.parts:
            if isinstance(part, TextPart | Refusal):
                chars += len(part.text)
                texts.append(part.text)
            elif isinstance(part, ImagePart):
                images += 1
            elif isinstance(part, ToolCall):
                chars += len(part.name) + len(part.arguments)
            elif isinstance(part, ToolResult):
                for item in part.content:
                    if isinstance(item, TextPart):
                        chars += len(item.text)
                    else:
                        images += 1
            elif isinstance(part, Thinking):
                chars += len(part.text)
        if message.role == "user" and texts:
            last_user_text = "\n".join(texts)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description or "") + len(orjson.dumps(tool.parameters))
    picked = {name: headers[name] for name in allowed_headers if name in headers}
    return RequestFacts(
        model=request.model,
        estimated_tokens=_tokens(chars) + images * TOKENS_PER_IMAGE,
        max_tokens=request.max_tokens,
        stream=request.stream,
        has_tools=bool(request.tools),
        has_images=images > 0,
        wants_json=request.response_format is not None and request.response_format.kind != "text",
        message_count=len(request.messages),
        text=last_user_text[-TEXT_LIMIT:],
        metadata=request.metadata,
        headers=picked,
    )
