"""Typed readers over parsed JSON that fail with ``BadRequest`` naming the exact field path.

Paths use Anthropic's own notation (``messages.2.content.0.source``) so a client sees the
same kind of pointer the real API would give it.
"""

from __future__ import annotations

from typing import Any

from engine.errors import BadRequest, NoCanonicalForm
from providers.json_types import json_type_name as _type_name

JsonObject = dict[str, Any]


def join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def invalid(path: str, expected: str, value: object) -> BadRequest:
    return BadRequest(f"{path}: expected {expected}, got {_type_name(value)}", param=path)


def as_object(value: object, path: str) -> JsonObject:
    if not isinstance(value, dict):
        raise invalid(path, "an object", value)
    return value


def as_list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(path, "an array", value)
    return value


def as_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise invalid(path, "a string", value)
    return value


def as_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(path, "a boolean", value)
    return value


def as_int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(path, "an integer", value)
    return value


def as_number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(path, "a number", value)
    return float(value)


def required(obj: JsonObject, key: str, path: str) -> Any:
    if key not in obj:
        field = join(path, key)
        raise BadRequest(f"{field}: field required", param=field)
    return obj[key]


def opt_str(obj: JsonObject, key: str, path: str) -> str | None:
    value = obj.get(key)
    return None if value is None else as_str(value, join(path, key))


def opt_int(obj: JsonObject, key: str, path: str) -> int | None:
    value = obj.get(key)
    return None if value is None else as_int(value, join(path, key))


def opt_number(obj: JsonObject, key: str, path: str) -> float | None:
    value = obj.get(key)
    return None if value is None else as_number(value, join(path, key))


def opt_bool(obj: JsonObject, key: str, path: str) -> bool | None:
    value = obj.get(key)
    return None if value is None else as_bool(value, join(path, key))


def unsupported_block(path: str, block_type: str) -> NoCanonicalForm:
    return NoCanonicalForm(f"{path}: content block type '{block_type}' is not supported by this gateway", param=path)


CACHE_TTLS = ("5m", "1h")


def cache_hint(block: JsonObject, path: str) -> str | None:
    """A block's ``cache_control`` as the canonical cache lifetime ("5m" unless it says)."""
    raw = block.get("cache_control")
    if raw is None:
        return None
    where = join(path, "cache_control")
    control = as_object(raw, where)
    kind = as_str(required(control, "type", where), join(where, "type"))
    if kind != "ephemeral":
        raise BadRequest(f"{join(where, 'type')}: must be 'ephemeral', got {kind!r}", param=where)
    ttl = opt_str(control, "ttl", where) or "5m"
    if ttl not in CACHE_TTLS:
        raise BadRequest(f"{join(where, 'ttl')}: must be one of {', '.join(CACHE_TTLS)}, got {ttl!r}", param=where)
    return ttl


def cache_control(ttl: str) -> JsonObject:
    """The ``cache_control`` object for a canonical cache lifetime."""
    return {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": ttl}
