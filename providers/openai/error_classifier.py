"""An OpenAI(-compatible) upstream failure -> a classified ``UpstreamError``.

By HTTP status first: 429 rate_limit (with ``retry_after``), 5xx server, 401/403 auth,
404 not_found, 408 timeout, other 4xx bad_request; a 400-class error whose code is
``context_length_exceeded`` (or whose message mentions the maximum context length) is
context_length, and one with code ``content_policy_violation`` / ``content_filter`` is
content_filter. In-band stream errors carry no status: their ``type`` / ``code`` decide
(a numeric ``code``, as some compatible servers send, is read as the status).

The message is the upstream's ``error.message``; anything that looks like an API key
(``sk-...``, a bearer token) is masked first, so our credentials never reach a client or a log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from engine.errors import FailureKind, UpstreamError
from providers.openai.retry_after import parse_retry_after

_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-*]{6,}|(?i:bearer)\s+[A-Za-z0-9_\-.=:+/*]{6,})")
_MAX_MESSAGE = 500
_CONTEXT_PHRASES = ("maximum context length", "context length exceeded", "context_length_exceeded")
_FILTER_CODES = frozenset({"content_policy_violation", "content_filter"})
_RATE_TYPES = frozenset({"rate_limit_exceeded", "rate_limit_error", "requests", "tokens", "insufficient_quota"})
_AUTH_TYPES = frozenset({"authentication_error", "permission_error", "invalid_api_key"})


def classify_http_error(
    status: int, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> UpstreamError:
    error = _error_object(body)
    message, etype, code = _fields(error)
    if not message:
        message = _body_excerpt(body) or f"upstream returned HTTP {status}"
    failure = _failure(status, etype, code, message)
    retry_after = parse_retry_after(headers, now=now) if failure in ("rate_limit", "server") else None
    return UpstreamError(failure, _redact(message), upstream_status=status, retry_after=retry_after)


def classify_in_band(error: Any) -> UpstreamError:
    """The value of an ``"error"`` key found inside a 200 response or stream chunk."""
    message, etype, code = _fields(error)
    status = None
    if isinstance(error, dict):
        raw = error.get("code", error.get("status"))
        if isinstance(raw, int) and not isinstance(raw, bool) and 400 <= raw <= 599:
            status = raw
    failure = _failure(status, etype, code, message or "upstream reported an error")
    return UpstreamError(failure, _redact(message or "upstream reported an error mid-response"), upstream_status=status)


def _failure(status: int | None, etype: str | None, code: str | None, message: str) -> FailureKind:
    if status is None or status in (400, 413, 422):
        lowered = message.lower()
        if code == "context_length_exceeded" or any(p in lowered for p in _CONTEXT_PHRASES):
            return "context_length"
        if code in _FILTER_CODES or etype in _FILTER_CODES:
            return "content_filter"
    if status is None:
        if etype in _RATE_TYPES or code in _RATE_TYPES:
            return "rate_limit"
        if etype in _AUTH_TYPES or code in _AUTH_TYPES:
            return "auth"
        if etype == "invalid_request_error":
            return "bad_request"
        return "server"
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 408:
        return "timeout"
    if status >= 400:
        return "bad_request"
    return "server"


def _error_object(body: bytes) -> Any:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        return data.get("error", data)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0].get("error", data[0])  # some gateways wrap the envelope in a list
    return None


def _fields(error: Any) -> tuple[str, str | None, str | None]:
    """(message, type, code) from an error object; a bare string is the message."""
    if isinstance(error, str):
        return error, None, None
    if not isinstance(error, dict):
        return "", None, None
    message = error.get("message")
    etype = error.get("type")
    code = error.get("code")
    return (
        message if isinstance(message, str) else "",
        etype if isinstance(etype, str) else None,
        code if isinstance(code, str) else None,
    )


def _body_excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    if not text or text.startswith("{"):
        return ""
    return text[:200]


def _redact(message: str) -> str:
    masked = _SECRET.sub("[redacted]", message)
    return masked if len(masked) <= _MAX_MESSAGE else masked[:_MAX_MESSAGE] + "..."
