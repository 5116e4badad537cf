"""Token usage in OpenAI's shape, read from an upstream and written for a client.

OpenAI's convention already matches the canonical one: ``prompt_tokens`` counts the whole
prompt (cached reads included, reported as ``prompt_tokens_details.cached_tokens``) and
``completion_tokens`` includes ``completion_tokens_details.reasoning_tokens``. DeepSeek's
``prompt_cache_hit_tokens`` is read when ``cached_tokens`` is absent. OpenAI has no field
for cache writes; they stay inside ``prompt_tokens`` when written out.

Upstream usage is read leniently: a missing or non-integer count reads as 0 rather than
failing a response the client already received.
"""

from __future__ import annotations

from typing import Any

from engine.canonical import Usage
from providers.openai.wire import WireUsage


def parse_usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    prompt_details = raw.get("prompt_tokens_details")
    completion_details = raw.get("completion_tokens_details")
    cached = _count(prompt_details, "cached_tokens") if isinstance(prompt_details, dict) else 0
    if not cached:
        cached = _count(raw, "prompt_cache_hit_tokens")
    reasoning = _count(completion_details, "reasoning_tokens") if isinstance(completion_details, dict) else 0
    return Usage(
        input_tokens=_count(raw, "prompt_tokens"),
        output_tokens=_count(raw, "completion_tokens"),
        cached_input_tokens=cached,
        reasoning_tokens=reasoning,
    )


def usage_to_wire(usage: Usage) -> WireUsage:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _count(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value
