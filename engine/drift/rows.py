"""The usage-log row ``turnout drift`` reads, typed at the edge.

A request row (``attempt`` None) carries, from its ``routing`` JSON, only the facts the
policy's cost estimate reads (``CostFacts``); an attempt row carries none. A ``routing``
value that is absent or cannot be read gives ``None``: such rows are counted, never guessed at.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson


class CostFacts(NamedTuple):
    """What the planner's estimate of a request's cost reads: the estimated prompt tokens, the
    output cap the request asked for (None: the policy's default applies) and the key's group."""

    estimated_tokens: int
    max_tokens: int | None
    key_group: str


class UsageRow(NamedTuple):
    attempt: int | None  # None: the request row
    model_requested: str
    alias_rule: str | None  # "alias#rule" (rule: 1-based number or "candidates"), "alias", or None
    model_served: str | None
    channel: str | None
    error_type: str | None  # attempt rows: None when the attempt ended ok
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    policy_version: str
    byok: bool
    facts: CostFacts | None = None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None  # type(): a bool is not a token count


def cost_facts(routing: str | bytes | None) -> CostFacts | None:
    """A request row's ``routing`` JSON (``engine.replay.recorded``) as ``CostFacts``."""
    if routing is None:
        return None
    try:
        data = orjson.loads(routing)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    estimated, cap, group = _int(data.get("estimated_tokens")), data.get("max_tokens"), data.get("key_group")
    if estimated is None or (cap is not None and _int(cap) is None) or type(group) is not str:
        return None
    return CostFacts(estimated, cap, group)
