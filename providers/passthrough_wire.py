"""Upstream bytes as the same-format passthroughs read them: a whole answer's JSON object,
and the JSON object of one stream event (or the sign that it is malformed)."""

from __future__ import annotations

from typing import Any

import orjson

from engine.errors import UpstreamError


def upstream_object(raw: bytes | str, what: str) -> dict[str, Any]:
    """``raw`` as the JSON object an upstream must send (``what``: "a response"...);
    ``UpstreamError("server")`` saying what it was instead."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError("server", f"upstream sent {what} that is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamError("server", f"upstream sent {what} that is not a JSON object")
    return data


def event_object(data: str) -> dict[str, Any] | None:
    """One SSE event's ``data`` as the JSON object every stream event is; None when it is
    not one (not JSON, or JSON that is not an object): a malformed event, which a stream
    skips (a whole one) or takes for a cut (one the end of the stream cut short)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None
