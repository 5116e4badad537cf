"""Gemini's wire vocabulary and its canonical equivalents: finish reasons, thinking levels.

Finish reasons (``Candidate.FinishReason``), upstream -> canonical:

* ``STOP`` -> ``end``, or ``tool_use`` when the candidate holds function calls (Gemini
  has no separate reason for calls) ;
* ``MAX_TOKENS`` -> ``length`` ;
* the blocking reasons (``SAFETY``, ``RECITATION``, ``LANGUAGE``, ``BLOCKLIST``,
  ``PROHIBITED_CONTENT``, ``SPII``, ``IMAGE_*`` blocks, ``MODEL_ARMOR``) ->
  ``content_filter`` ;
* reasons that mean the generation failed (``MALFORMED_FUNCTION_CALL``,
  ``UNEXPECTED_TOOL_CALL``, ``TOO_MANY_TOOL_CALLS``, ``MALFORMED_RESPONSE``, ``OTHER``,
  ``NO_IMAGE``, ``IMAGE_OTHER``, unspecified or unknown values) raise ``UpstreamError``
  (``server``: a retry or another upstream may succeed) ; ``MISSING_THOUGHT_SIGNATURE``
  is our request's fault (``bad_request``).

Canonical -> wire (what a Gemini client sees): ``end``, ``tool_use`` and
``stop_sequence`` -> ``STOP`` (Gemini reports all three as STOP), ``length`` ->
``MAX_TOKENS``, ``content_filter`` and ``refusal`` -> ``SAFETY``.
"""

from __future__ import annotations

from typing import Literal

from engine.canonical import StopReason
from engine.errors import FailureKind, UpstreamError

FORMAT = "gemini"

FINISH_FOR_STOP: dict[StopReason, str] = {
    "end": "STOP",
    "tool_use": "STOP",
    "stop_sequence": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "refusal": "SAFETY",
}

_BLOCKED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
    }
)

_FAILED: dict[str, FailureKind] = {
    "MALFORMED_FUNCTION_CALL": "server",
    "UNEXPECTED_TOOL_CALL": "server",
    "TOO_MANY_TOOL_CALLS": "server",
    "MALFORMED_RESPONSE": "server",
    "OTHER": "server",
    "NO_IMAGE": "server",
    "IMAGE_OTHER": "server",
    "MISSING_THOUGHT_SIGNATURE": "bad_request",
}


def stop_reason(finish: str, *, has_tool_calls: bool, message: str | None = None) -> StopReason:
    """The canonical stop reason for a Gemini ``finishReason``; raises for failures."""
    if finish == "STOP":
        return "tool_use" if has_tool_calls else "end"
    if finish == "MAX_TOKENS":
        return "length"
    if finish in _BLOCKED:
        return "content_filter"
    failure = _FAILED.get(finish, "server")
    detail = f": {message}" if message else ""
    raise UpstreamError(failure, f"Gemini stopped with finishReason {finish}{detail}")


ThinkingLevel = Literal["minimal", "low", "medium", "high"]

LEVEL_FROM_WIRE: dict[str, ThinkingLevel] = {
    "MINIMAL": "minimal",
    "LOW": "low",
    "MEDIUM": "medium",
    "HIGH": "high",
}
LEVEL_TO_WIRE: dict[ThinkingLevel, str] = {v: k for k, v in LEVEL_FROM_WIRE.items()}

# Gemini 2.x models take a token budget, not a level. Google's own OpenAI-compatible
# endpoint maps reasoning_effort to these budgets for 2.5 models.
BUDGET_FOR_LEVEL: dict[ThinkingLevel, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
}


def takes_thinking_budget(upstream_model: str) -> bool:
    """True for model families that accept ``thinkingBudget`` but not ``thinkingLevel``."""
    name = upstream_model.rsplit("/", 1)[-1]
    return name.startswith(("gemini-1", "gemini-2"))
