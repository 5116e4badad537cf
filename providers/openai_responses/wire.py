"""Small typed readers and shared mappings for the Responses API's JSON.

Everything that parses a Responses body goes through the readers here, so a wrong type is
reported once, with the JSON path, as ``WireError``; the codec turns it into ``BadRequest``
and the adapter into an ``UpstreamError``. The usage block and item-id helpers live here
too because both directions use them.

Thinking signatures: Responses carries a reasoning item's opaque state in
``encrypted_content``. The gateway maps it to ``Thinking.signature``. A canonical
``Thinking.redacted`` payload (Anthropic's ``redacted_thinking``) has no Responses
equivalent, so it travels to a Responses *client* as ``encrypted_content`` prefixed with
``REDACTED_PREFIX`` and comes back out of it as ``Thinking.redacted``: opaque to the
client either way, lossless for the gateway.

Another vendor's signature (``Thinking.origin`` names the format that issued it) travels
to a Responses client as ``encrypted_content`` prefixed ``turnout:<format>:``, and comes back
out of it with that origin, so only an upstream of that format is sent it. Unprefixed
``encrypted_content`` from a client is OpenAI's own (a Responses upstream served it): it
goes back to Responses upstreams and is left out for others, which could not read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.canonical import Usage

FORMAT = "openai-responses"
REDACTED_PREFIX = "turnout-redacted:"
ISSUER_PREFIX = "turnout:"

JSONObject = dict[str, Any]


class WireError(ValueError):
    """A JSON value of the wrong shape; the message names its path."""


def as_object(value: Any, path: str) -> JSONObject:
    if not isinstance(value, dict):
        raise WireError(f"{path} must be an object")
    return value


def as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise WireError(f"{path} must be an array")
    return value


def req_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise WireError(f"{path}.{key} must be a string")
    return value


def opt_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(f"{path}.{key} must be a string")
    return value


def opt_int(obj: Mapping[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{path}.{key} must be an integer")
    return value


def opt_float(obj: Mapping[str, Any], key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WireError(f"{path}.{key} must be a number")
    return float(value)


def opt_bool(obj: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise WireError(f"{path}.{key} must be a boolean")
    return value


def opt_object(obj: Mapping[str, Any], key: str, path: str) -> JSONObject | None:
    value = obj.get(key)
    if value is None:
        return None
    return as_object(value, f"{path}.{key}")


# ---- usage ---------------------------------------------------------------------------


def usage_from_wire(value: Any, path: str = "usage") -> Usage:
    """``usage`` of a Response; its conventions already match the canonical ones."""
    if value is None:
        return Usage()
    usage = as_object(value, path)
    in_details = opt_object(usage, "input_tokens_details", path) or {}
    out_details = opt_object(usage, "output_tokens_details", path) or {}
    return Usage(
        input_tokens=opt_int(usage, "input_tokens", path) or 0,
        output_tokens=opt_int(usage, "output_tokens", path) or 0,
        cached_input_tokens=opt_int(in_details, "cached_tokens", f"{path}.input_tokens_details") or 0,
        cache_write_tokens=opt_int(in_details, "cache_write_tokens", f"{path}.input_tokens_details") or 0,
        reasoning_tokens=opt_int(out_details, "reasoning_tokens", f"{path}.output_tokens_details") or 0,
    )


def usage_to_wire(usage: Usage) -> JSONObject:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_input_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


# ---- ids -----------------------------------------------------------------------------


def response_id(canonical_id: str) -> str:
    """Responses ids start with ``resp_``; an upstream's own id is kept after the prefix."""
    return canonical_id if canonical_id.startswith("resp_") else f"resp_{canonical_id}"


def item_id(prefix: str, resp_id: str, output_index: int) -> str:
    """A stable id for output item ``output_index`` of ``resp_id`` (``msg``/``fc``/``rs``)."""
    core = resp_id.removeprefix("resp_")
    return f"{prefix}_{core}_{output_index}"


# ---- reasoning state -----------------------------------------------------------------


def encrypted_content(signature: str | None, redacted: str | None, origin: str | None = None) -> str | None:
    """The ``encrypted_content`` a Responses client sees for a canonical Thinking."""
    if signature and origin is not None and origin != FORMAT:
        return f"{ISSUER_PREFIX}{origin}:{signature}"
    if signature:
        return signature
    if redacted:
        return REDACTED_PREFIX + redacted
    return None


def thinking_state(encrypted: str | None) -> tuple[str | None, str | None, str | None]:
    """``(signature, redacted, origin)`` for a client's ``encrypted_content``."""
    if not encrypted:
        return None, None, None
    if encrypted.startswith(REDACTED_PREFIX):
        return None, encrypted[len(REDACTED_PREFIX) :], None
    if encrypted.startswith(ISSUER_PREFIX):
        origin, sep, signature = encrypted[len(ISSUER_PREFIX) :].partition(":")
        if sep and origin and signature:
            return signature, None, origin
    return encrypted, None, FORMAT
