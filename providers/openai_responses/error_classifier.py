"""What went wrong upstream, as an ``UpstreamError`` the executor can act on.

HTTP errors: 429 -> ``rate_limit`` (``Retry-After`` / ``retry-after-ms`` in seconds),
5xx -> ``server``, 408 -> ``timeout``, 401/403 -> ``auth``, 404 -> ``not_found``; a 400
whose code or message says the prompt was too long -> ``context_length``, one refused by
a content policy -> ``content_filter``; every other 4xx -> ``bad_request``. In-band
errors (a stream's ``error`` event, a ``failed`` response) are classified from their
``code`` the same way; an unknown code counts as ``server``.

Upstream messages are passed on (OpenAI's say what was wrong with the request) with
anything shaped like an API key masked; for ``auth`` failures the upstream's message is
replaced entirely, since it is about the gateway's credentials, not the client's request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from engine.errors import FailureKind, UpstreamError

_KEY_LIKE = re.compile(r"\b(sk|rk|pk|sess)-[A-Za-z0-9_\-*]{6,}")
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_WORDS = ("context length", "context window", "maximum context", "too many tokens")
_FILTER_CODES = frozenset(
    {
        "content_policy_violation", "content_filter", "invalid_prompt", "bio_policy",
        "misalignment_policy_violation", "image_content_policy_violation",
    }
)  # fmt: skip
_RATE_CODES = frozenset({"rate_limit_exceeded", "insufficient_quota"})
_BAD_REQUEST_PREFIXES = ("invalid_", "image_", "unsupported_", "empty_", "failed_to_download")
_MAX_MESSAGE = 500


def classify_http(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    code, message = _parse_body(body)
    where = f"upstream HTTP {status}"
    if status in (401, 403):
        return UpstreamError(
            "auth", f"{where}: the upstream rejected the channel's credentials", upstream_status=status
        )
    text = f"{where}: {message}" if message else where
    if status == 429:
        return UpstreamError("rate_limit", text, upstream_status=status, retry_after=_retry_after(headers))
    if status >= 500:
        return UpstreamError("server", text, upstream_status=status)
    if status == 408:
        return UpstreamError("timeout", text, upstream_status=status)
    if status == 404:
        return UpstreamError("not_found", text, upstream_status=status)
    return UpstreamError(_request_failure(code, message), text, upstream_status=status)


def classify_inband(code: str | None, message: str | None) -> UpstreamError:
    """A failure the upstream reported inside a 200 response or stream."""
    failure: FailureKind
    if code in _RATE_CODES:
        failure = "rate_limit"
    elif code is not None and (
        code in _CONTEXT_CODES or code in _FILTER_CODES or code.startswith(_BAD_REQUEST_PREFIXES)
    ):
        failure = _request_failure(code, message or "")
    else:
        failure = "server"
    text = f"upstream error {code or 'unknown'}: {scrub(message or 'no message')}"
    return UpstreamError(failure, text[:_MAX_MESSAGE])


def scrub(message: str) -> str:
    """``message`` with anything shaped like an API key masked."""
    return _KEY_LIKE.sub(lambda m: f"{m.group(1)}-***", message)


def _request_failure(code: str | None, message: str) -> FailureKind:
    lowered = message.lower()
    if code in _CONTEXT_CODES or any(word in lowered for word in _CONTEXT_WORDS):
        return "context_length"
    if code in _FILTER_CODES or "content policy" in lowered or "flagged" in lowered:
        return "content_filter"
    return "bad_request"


def _parse_body(body: bytes) -> tuple[str | None, str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, scrub(body[:_MAX_MESSAGE].decode("utf-8", errors="replace").strip())
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, ""
    code = error.get("code")
    message = error.get("message")
    return (
        code if isinstance(code, str) else None,
        scrub(message[:_MAX_MESSAGE]) if isinstance(message, str) else "",
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) * scale
        except ValueError:
            continue  # an HTTP date: the executor's own backoff applies
        if seconds >= 0:
            return seconds
    return None


def classify_error_event(event: Mapping[str, Any]) -> UpstreamError:
    """A stream's ``error`` event, its fields flat (the spec) or nested under ``error`` (the API)."""
    nested = event.get("error")
    source = nested if isinstance(nested, Mapping) else event
    code, message = source.get("code"), source.get("message")
    return classify_inband(code if isinstance(code, str) else None, message if isinstance(message, str) else None)
