"""Gemini ``usageMetadata`` <-> canonical ``Usage``.

Gemini counts (``totalTokenCount = prompt + toolUsePrompt + candidates + thoughts``):

* ``promptTokenCount`` includes ``cachedContentTokenCount`` ;
* ``candidatesTokenCount`` excludes thinking, which is ``thoughtsTokenCount`` ;
* ``toolUsePromptTokenCount`` is the prompt of server-side tools (search results...),
  billed as input.

So canonically: ``input = prompt + toolUsePrompt``, ``cached_input = cachedContent``,
``output = candidates + thoughts``, ``reasoning = thoughts``. Gemini has no cache-write
count (explicit caches are created out of band).
"""

from __future__ import annotations

from typing import Any

from engine.canonical import Usage
from providers.gemini.fields import JsonObject

_COUNTS = ("promptTokenCount", "candidatesTokenCount", "totalTokenCount", "thoughtsTokenCount")


def has_counts(meta: JsonObject) -> bool:
    """Streams open with ``usageMetadata: {"trafficType": ...}`` and no counts yet."""
    return any(meta.has(name) for name in _COUNTS)


def from_wire(meta: JsonObject) -> Usage:
    prompt = meta.integer("promptTokenCount") or 0
    tool_prompt = meta.integer("toolUsePromptTokenCount") or 0
    candidates = meta.integer("candidatesTokenCount") or 0
    thoughts = meta.integer("thoughtsTokenCount") or 0
    return Usage(
        input_tokens=prompt + tool_prompt,
        output_tokens=candidates + thoughts,
        cached_input_tokens=meta.integer("cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


def to_wire(usage: Usage) -> dict[str, Any]:
    candidates = max(usage.output_tokens - usage.reasoning_tokens, 0)
    out: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": usage.input_tokens + candidates + usage.reasoning_tokens,
    }
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cached_input_tokens:
        out["cachedContentTokenCount"] = usage.cached_input_tokens
    return out
