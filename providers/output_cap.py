"""The output cap a client asks for: ``max_tokens`` / ``max_completion_tokens`` (chat),
``max_output_tokens`` (Responses), ``max_tokens`` (Anthropic),
``generationConfig.maxOutputTokens`` (Gemini).

Every format's request decoder, and the outline of a body only its own format can carry
(``providers.outline``), reads the cap through ``output_cap``: absent (or null) is no cap;
anything else must be a JSON integer >= 1. Zero, negatives, floats (``1e12`` and ``5.0``
are floats in JSON), booleans and strings are the client's mistake: a 400 naming the field,
never a request that reaches an upstream or the balance with a nonsense cap. (Whether a
valid cap fits the routed model is the planner's question, not this one.)
"""

from __future__ import annotations

import orjson

from engine.errors import BadRequest
from providers.json_types import json_type_name

_SHOWN = 40  # characters of the offending value quoted in the message


def output_cap(value: object, field: str) -> int | None:
    """``value`` as the cap, None when absent; ``BadRequest`` with ``param=field`` otherwise."""
    if value is None:
        return None
    if type(value) is int and value >= 1:
        return value
    if type(value) is int:
        raise BadRequest(f"{field}: expected an integer >= 1, got {value}", code="integer_below_min_value", param=field)
    problem = f"expected an integer, got {json_type_name(value)} ({_shown(value)})"
    raise BadRequest(f"{field}: {problem}", code="invalid_type", param=field)


def _shown(value: object) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = type(value).__name__
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
