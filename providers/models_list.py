"""Model-list shapes of every client format (OpenAI, Anthropic, Gemini) from neutral entries.

OpenAI's list carries Turnout's extra fields (kind: model or alias, model_kind: chat,
embedding or image, price, context window, capabilities,
availability) next to the standard ones; SDKs ignore fields they do not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers.gemini.models_list import GeminiModelInfo, encode_models_list


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    kind: str  # "model" or "alias"
    description: str | None
    price: dict[str, float] | None
    context_window: int | None
    max_output_tokens: int | None
    capabilities: tuple[str, ...]
    available: bool  # at least one enabled channel can serve it
    model_kind: str = "chat"  # what it serves: chat, embedding or image (an alias: its models')


def openai_entry(entry: ModelEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "object": "model",
        "created": 0,
        "owned_by": "turnout",
        "kind": entry.kind,
        "description": entry.description,
        "price": entry.price,
        "context_window": entry.context_window,
        "max_output_tokens": entry.max_output_tokens,
        "capabilities": list(entry.capabilities),
        "available": entry.available,
        "model_kind": entry.model_kind,
    }


def openai_list(entries: list[ModelEntry]) -> dict[str, Any]:
    return {"object": "list", "data": [openai_entry(e) for e in entries]}


def anthropic_list(entries: list[ModelEntry]) -> dict[str, Any]:
    data = [
        {"type": "model", "id": e.id, "display_name": e.description or e.id, "created_at": "1970-01-01T00:00:00Z"}
        for e in entries
        if e.model_kind == "chat"  # Anthropic clients only chat
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def gemini_list(entries: list[ModelEntry]) -> bytes:
    return encode_models_list(
        GeminiModelInfo(
            id=e.id,
            display_name=e.id,
            context_window=e.context_window,
            max_output_tokens=e.max_output_tokens,
            description=e.description,
            thinking="reasoning" in e.capabilities,
            embedding=e.model_kind == "embedding",
        )
        for e in entries
        if e.model_kind != "image"  # Gemini clients have no image endpoint here
    )
