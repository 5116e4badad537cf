"""A client's JSON request body, parsed: a 400 in the client's shape when it is not JSON or
is nested deeper than any real schema (re-encoding it for an upstream must stay safe)."""

from __future__ import annotations

from typing import Any

import orjson

from engine.errors import BadRequest

MAX_JSON_DEPTH = 128  # deeper than any real schema; re-encoding upstream bodies stays safe (orjson: 255)


def parse_json(body: bytes) -> Any:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH:  # only then can it be too deep
        _check_depth(data)
    return data


def _check_depth(data: Any) -> None:
    """A 400 for JSON nested deeper than ``MAX_JSON_DEPTH`` (a tool schema a few hundred
    levels deep would otherwise fail when the upstream body is encoded)."""
    level: list[Any] = [data]
    for _ in range(MAX_JSON_DEPTH + 1):
        nested: list[Any] = []
        for value in level:
            if isinstance(value, dict):
                nested.extend(v for v in value.values() if isinstance(v, dict | list))
            elif isinstance(value, list):
                nested.extend(v for v in value if isinstance(v, dict | list))
        if not nested:
            return
        level = nested
    raise BadRequest(f"request body is nested deeper than {MAX_JSON_DEPTH} levels", code="invalid_json")
