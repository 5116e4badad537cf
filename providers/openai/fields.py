"""Typed reads from untrusted client JSON, each failure a ``BadRequest`` naming the field path.

Every helper takes the value (or the object and key) plus the path used in the message,
e.g. ``messages[2].content``; nothing here guesses or coerces (``true`` is not an integer,
``"1"`` is not a number).
"""

from __future__ import annotations

from typing import Any

from engine.errors import BadRequest, NoCanonicalForm


def fail(path: str, expected: str) -> BadRequest:
    return BadRequest(f"{path}: expected {expected}", param=path)


def unsupported(path: str, what: str) -> NoCanonicalForm:
    """A well-formed field the gateway's canonical model cannot carry (400)."""
    return NoCanonicalForm(f"{path}: {what} is not supported by this gateway", param=path, kind="unsupported_feature")


def as_object(value: Any, path: str) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise fail(path, "an object")


def as_array(value: Any, path: str) -> list[Any]:
    if type(value) is list:
        return value
    raise fail(path, "an array")


def as_str(value: Any, path: str) -> str:
    if type(value) is str:
        return value
    raise fail(path, "a string")


# The helpers below check first and build the field's path only to report a failure.


def req_str(obj: dict[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if type(value) is str:
        return value
    where = _join(path, key)
    if value is None:
        raise BadRequest(f"{where}: required", param=where)
    raise fail(where, "a string")


def opt_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    raise fail(_join(path, key), "a string")


def opt_bool(obj: dict[str, Any], key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None or type(value) is bool:
        return value
    raise fail(_join(path, key), "a boolean")


def opt_int(obj: dict[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None or type(value) is int:
        return value
    raise fail(_join(path, key), "an integer")


def opt_number(obj: dict[str, Any], key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        return float(value)
    raise fail(_join(path, key), "a number")


def opt_object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None or type(value) is dict:
        return value
    raise fail(_join(path, key), "an object")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
