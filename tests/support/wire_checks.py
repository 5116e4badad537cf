"""Checks on what the gateway sends a client: error envelopes, routing headers, SSE."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from engine.sse import SSEParser


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an OpenAI-shaped error with ``status`` and the gateway's headers; return
    the inner ``error`` object."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("x-request-id"), "error without x-request-id"
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict)
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    return error


def route_fields(headers: Mapping[str, str]) -> dict[str, str]:
    """``x-turnout-route: alias=a; rule=1; channel=c; model=m; attempts=2`` as a dict."""
    header = headers.get("x-turnout-route")
    assert header, f"no x-turnout-route header in {dict(headers)}"
    fields = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        assert sep, f"malformed x-turnout-route: {header!r}"
        fields[name] = value
    return fields


def sse_data(raw: bytes) -> list[str]:
    """The ``data`` of every complete SSE event in ``raw``, in order."""
    return [event.data for event in SSEParser().feed(raw)]


def sse_json(raw: bytes) -> list[Any]:
    """The JSON payload of every SSE event except ``[DONE]``."""
    return [orjson.loads(data) for data in sse_data(raw) if data != "[DONE]"]
