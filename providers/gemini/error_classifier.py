"""A Gemini error (HTTP status + ``{"error": {code, message, status, details}}`` body, or
the same object in-band in a stream) -> a classified ``UpstreamError``.

* 429 / ``RESOURCE_EXHAUSTED`` -> ``rate_limit``; ``retry_after`` from the
  ``google.rpc.RetryInfo`` detail's ``retryDelay`` (``"34.4s"``), else the
  ``Retry-After`` header (seconds) ;
* 5xx -> ``server`` ;
* 400 whose message says the prompt exceeds the model's token limit -> ``context_length``;
* 401, 403, and a 400 whose ``ErrorInfo`` reason or message says the API key is invalid
  (Gemini answers a bad key with 400 ``API_KEY_INVALID``) -> ``auth`` ;
* 404 -> ``not_found`` ; everything else -> ``bad_request``.

The body may be wrapped in a one-element JSON array (non-SSE streaming does that) or be
no JSON at all (a proxy's HTML page): the message then quotes a bounded prefix of it.
The key is sent in a header, never in the URL, so an error cannot echo it back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from engine.errors import FailureKind, UpstreamError

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_TOO_LONG = re.compile(r"exceeds the maximum number of tokens|input token count .* exceeds", re.IGNORECASE)
_BAD_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")
_MAX_QUOTE = 300


def classify_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    error = _error_object(body)
    if error is None:
        text = body.decode("utf-8", errors="replace").strip()[:_MAX_QUOTE]
        return _classified(status, None, text or "(empty body)", [], headers)
    return classify_object(error, status, headers)


def classify_object(error: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None) -> UpstreamError:
    """Classify the inner ``error`` object; ``status`` is the HTTP status it came with."""
    code = error.get("code")
    if status == 200 and isinstance(code, int):  # in-band in a stream
        status = code
    raw_rpc, raw_message, raw_details = error.get("status"), error.get("message"), error.get("details")
    rpc = raw_rpc if isinstance(raw_rpc, str) else None
    message = raw_message if isinstance(raw_message, str) else ""
    details = [d for d in raw_details if isinstance(d, dict)] if isinstance(raw_details, list) else []
    return _classified(status, rpc, message, details, headers or {})


def _error_object(body: bytes) -> Mapping[str, Any] | None:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(parsed, list) and len(parsed) == 1:
        parsed = parsed[0]
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        error: Mapping[str, Any] = parsed["error"]
        return error
    return None


def _classified(
    status: int, rpc: str | None, message: str, details: list[dict[str, Any]], headers: Mapping[str, str]
) -> UpstreamError:
    failure = _failure(status, rpc, message, details)
    label = f"{status} {rpc}" if rpc else str(status)
    retry_after = _retry_after(details, headers) if failure == "rate_limit" else None
    return UpstreamError(failure, f"Gemini {label}: {message}", upstream_status=status, retry_after=retry_after)


def _failure(status: int, rpc: str | None, message: str, details: list[dict[str, Any]]) -> FailureKind:
    if status == 429 or rpc == "RESOURCE_EXHAUSTED":
        return "rate_limit"
    if status >= 500:
        return "server"
    if status in (401, 403) or rpc in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return "auth"
    reasons = {d.get("reason") for d in details if d.get("@type") == _ERROR_INFO}
    if reasons & _BAD_KEY_REASONS or "api key not valid" in message.lower():
        return "auth"
    if status == 404 or rpc == "NOT_FOUND":
        return "not_found"
    if _TOO_LONG.search(message):
        return "context_length"
    return "bad_request"


def _retry_after(details: list[dict[str, Any]], headers: Mapping[str, str]) -> float | None:
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            delay = detail.get("retryDelay")
            m = _DURATION.fullmatch(delay) if isinstance(delay, str) else None
            if m:
                return float(m.group(1))
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(float(value), 0.0)
            except ValueError:
                return None
    return None
