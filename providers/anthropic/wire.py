"""Anthropic Messages vocabulary: stop reasons, usage blocks and error types, both ways.

Usage: Anthropic's ``input_tokens`` *excludes* cache reads and cache writes, which it
reports separately (``cache_read_input_tokens``, ``cache_creation_input_tokens``); the
canonical ``Usage.input_tokens`` includes both, so decoding adds them and encoding
subtracts them. ``output_tokens_details.thinking_tokens`` is the canonical
``reasoning_tokens`` (a subset of ``output_tokens`` in both conventions).
"""

from __future__ import annotations

from typing import Any, Final

from engine.canonical import StopReason, Usage
from engine.errors import FailureKind

FORMAT = "anthropic"
ANTHROPIC_VERSION: Final = "2023-06-01"

# ``pause_turn`` (a server-tool loop paused) and ``model_context_window_exceeded`` have no
# canonical counterpart; they map to the closest one (``end`` / ``length``).
STOP_FROM_WIRE: Final[dict[str, StopReason]] = {
    "end_turn": "end",
    "max_tokens": "length",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "refusal": "refusal",
    "pause_turn": "end",
    "model_context_window_exceeded": "length",
}

STOP_TO_WIRE: Final[dict[StopReason, str]] = {
    "end": "end_turn",
    "length": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "refusal": "refusal",
    "content_filter": "refusal",
}


def stop_from_wire(value: object) -> StopReason:
    """Unknown or missing stop reasons read as ``end``."""
    return STOP_FROM_WIRE.get(value, "end") if isinstance(value, str) else "end"


def _count(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_wire(obj: dict[str, Any]) -> Usage:
    cache_read = _count(obj, "cache_read_input_tokens")
    cache_write = _count(obj, "cache_creation_input_tokens")
    details = obj.get("output_tokens_details")
    reasoning = _count(details, "thinking_tokens") if isinstance(details, dict) else 0
    return Usage(
        input_tokens=_count(obj, "input_tokens") + cache_read + cache_write,
        output_tokens=_count(obj, "output_tokens"),
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
    )


def merge_usage(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's ``message_delta`` usage holds cumulative totals that overwrite the
    ``message_start`` ones; fields it omits (or sends as null) keep their earlier value."""
    merged = dict(base)
    merged.update({k: v for k, v in update.items() if v is not None})
    return merged


def usage_to_wire(usage: Usage) -> dict[str, Any]:
    uncached = usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens
    out: dict[str, Any] = {
        "input_tokens": max(0, uncached),
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_input_tokens,
        "output_tokens": usage.output_tokens,
    }
    if usage.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


# What an upstream error ``type`` means for one attempt, and the HTTP status it implies
# when it arrives in-band (an ``error`` event after a 200).
FAILURE_FOR_ERROR_TYPE: Final[dict[str, tuple[FailureKind, int]]] = {
    "invalid_request_error": ("bad_request", 400),
    "authentication_error": ("auth", 401),
    "billing_error": ("auth", 402),
    "permission_error": ("auth", 403),
    "not_found_error": ("not_found", 404),
    "request_too_large": ("bad_request", 413),
    "rate_limit_error": ("rate_limit", 429),
    "api_error": ("server", 500),
    "timeout_error": ("timeout", 504),
    "overloaded_error": ("server", 529),
}
