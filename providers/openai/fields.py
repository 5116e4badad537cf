"""Typed reads from untrusted client JSON, each failure a ``BadRequest`` naming the field path.

Every helper takes the value (or the object and key) plus the path used in the message,
e.g. ``messages[2].content``; nothing here guesses or coerces (``true`` is not an integer,
``"1"`` is not a number).
"""

from __future__ import annotations

from typing import Any

from engine.errors import BadRequest


def fail(path: str, expected: str) -> BadRequest:
    return BadRequest(f"{path}: expected {expected}", param=path)


def unsupported(path: str, what: str) -> BadRequest:
    """A well-formed field the gateway's canonical model cannot carry (400)."""
    return BadRequest(
        f"{path}: {what} is not supported by this gateway",
        kind="unsupported_feature",
        code="unsupported_feature",
        param=path,
    )


def as_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(path, "an object")
    return value


def as_array(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise fail(path, "an array")
    return value


def as_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, "a string")
    return value


def req_str(obj: dict[str, Any], key: str, path: str) -> str:
    if key not in obj or obj[key] is None:
        where = _join(path, key)
        raise BadRequest(f"{where}: required", param=where)
    return as_str(obj[key], _join(path, key))


def opt_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    return None if value is None else as_str(value, _join(path, key))


def opt_bool(obj: dict[str, Any], key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise fail(_join(path, key), "a boolean")
    return value


def opt_int(obj: dict[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(_join(path, key), "an integer")
    return value


def opt_number(obj: dict[str, Any], key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(_join(path, key), "a number")
    return float(value)


def opt_object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = obj.get(key)
    return None if value is None else as_object(value, _join(path, key))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
