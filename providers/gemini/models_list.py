"""Gemini's model-listing and token-counting bodies, for Gemini clients.

``GET /v1beta/models`` -> ``{"models": [Model...]}`` (``ListModelsResponse``; one page,
no ``nextPageToken``); ``GET /v1beta/models/{id}`` -> one ``Model``;
``POST /v1beta/models/{id}:countTokens`` -> ``{"totalTokens": n}``. A ``Model`` names
itself ``models/<id>`` and lists ``generateContent``, ``streamGenerateContent`` and
``countTokens`` as its methods (an embedding model ``embedContent`` and
``batchEmbedContents``), which is what this gateway serves for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
_EMBED_METHODS = ["embedContent", "batchEmbedContents"]


@dataclass(frozen=True, slots=True)
class GeminiModelInfo:
    id: str  # the public model id, without "models/"
    display_name: str | None = None
    context_window: int | None = None  # inputTokenLimit
    max_output_tokens: int | None = None  # outputTokenLimit
    description: str | None = None
    thinking: bool = False
    embedding: bool = False  # an embedding model: embedContent and batchEmbedContents


def model_object(item: GeminiModelInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f"models/{item.id}",
        "baseModelId": item.id,
        "version": "turnout",
        "displayName": item.display_name or item.id,
    }
    if item.description:
        out["description"] = item.description
    if item.context_window is not None:
        out["inputTokenLimit"] = item.context_window
    if item.max_output_tokens is not None:
        out["outputTokenLimit"] = item.max_output_tokens
    out["supportedGenerationMethods"] = list(_EMBED_METHODS if item.embedding else _METHODS)
    if item.thinking:
        out["thinking"] = True
    return out


def encode_models_list(items: Iterable[GeminiModelInfo]) -> bytes:
    return orjson.dumps({"models": [model_object(i) for i in items]})


def encode_model(item: GeminiModelInfo) -> bytes:
    return orjson.dumps(model_object(item))


def encode_count_tokens(n: int) -> bytes:
    return orjson.dumps({"totalTokens": n})
