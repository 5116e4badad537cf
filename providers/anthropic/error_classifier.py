"""Anthropic error responses and in-band ``error`` events -> a classified ``UpstreamError``.

HTTP status decides first: 429 ``rate_limit`` (with ``retry-after``), 529 and 5xx
``server``, 408 ``timeout``, 401/402/403 ``auth`` (our credentials or our billing: another
channel may work), 404 ``not_found``, 413 ``bad_request``. Other 4xx are ``bad_request``
unless the message says the prompt does not fit (``context_length``) or the content policy
blocked it (``content_filter``). In-band errors (after a 200) have no status of their own:
their ``error.type`` picks the failure and the status it implies.

The upstream's own message is kept (truncated) so the client can act on it; it never
contains our API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import orjson

from engine.errors import FailureKind, UpstreamError
from providers.anthropic.wire import FAILURE_FOR_ERROR_TYPE

_MAX_MESSAGE: Final = 500
_CONTEXT_LENGTH_HINTS: Final = ("prompt is too long", "exceed context limit", "context window")
_CONTENT_FILTER_HINTS: Final = ("content filtering policy", "usage policy")


def classify_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    error_type, message = _parse(body)
    failure: FailureKind
    if status == 429:
        failure = "rate_limit"
    elif status >= 500:
        failure = "server"
    elif status == 408:
        failure = "timeout"
    elif status in (401, 402, 403):
        failure = "auth"
    elif status == 404:
        failure = "not_found"
    elif status == 413:
        failure = "bad_request"
    else:
        failure = _refine("bad_request", message)
    return UpstreamError(
        failure,
        f"anthropic {status} {error_type}: {message}",
        upstream_status=status,
        retry_after=_retry_after(headers),
    )


def stream_error(data: object) -> UpstreamError:
    """An ``event: error`` payload (``{"type": "error", "error": {...}}``) after a 200."""
    error = data.get("error") if isinstance(data, dict) else None
    error_type, message = _fields(error)
    failure, status = FAILURE_FOR_ERROR_TYPE.get(error_type, ("server", 500))
    return UpstreamError(
        _refine(failure, message),
        f"anthropic stream error {error_type}: {message}",
        upstream_status=status,
    )


def _refine(failure: FailureKind, message: str) -> FailureKind:
    if failure != "bad_request":
        return failure
    lowered = message.lower()
    if any(hint in lowered for hint in _CONTEXT_LENGTH_HINTS):
        return "context_length"
    if any(hint in lowered for hint in _CONTENT_FILTER_HINTS):
        return "content_filter"
    return failure


def _parse(body: bytes) -> tuple[str, str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", errors="replace").strip()
        return "http_error", _truncate(text or "(empty body)")
    return _fields(data.get("error") if isinstance(data, dict) else None)


def _fields(error: object) -> tuple[str, str]:
    if not isinstance(error, dict):
        return "unknown_error", "(no error details)"
    error_type = error.get("type")
    message = error.get("message")
    return (
        error_type if isinstance(error_type, str) else "unknown_error",
        _truncate(message) if isinstance(message, str) else "(no message)",
    )


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                return None  # an HTTP date: Anthropic sends seconds, so do not guess
            return seconds if seconds >= 0 else None
    return None
