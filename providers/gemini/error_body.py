"""A ``GatewayError`` as Gemini's error envelope, for Gemini clients.

``{"error": {"code": <HTTP status>, "message", "status": <google.rpc code name>,
"details"?}}``. The status name follows the error kind: invalid_request,
unsupported_feature, too_large, context_length, content_filter -> ``INVALID_ARGUMENT``;
authentication -> ``UNAUTHENTICATED``; permission -> ``PERMISSION_DENIED``; not_found
-> ``NOT_FOUND``; rate_limited -> ``RESOURCE_EXHAUSTED``; upstream_timeout ->
``DEADLINE_EXCEEDED``; no_route, overloaded, upstream_error -> ``UNAVAILABLE``; internal
-> ``INTERNAL``. Gemini has no 402: payment_required keeps HTTP 402 in ``code`` and uses
``RESOURCE_EXHAUSTED`` for ``quota_exceeded`` and ``FAILED_PRECONDITION`` (billing
state) otherwise.

``details`` uses Google's own types so SDKs understand them: ``google.rpc.RetryInfo``
(``retryDelay``) when a retry delay is known, ``google.rpc.BadRequest`` field
violations when the error names a parameter, ``google.rpc.ErrorInfo`` with the error
code as ``reason``.
"""

from __future__ import annotations

from typing import Any

from engine.errors import ErrorKind, GatewayError, UpstreamError

_STATUS_FOR_KIND: dict[ErrorKind, str] = {
    "invalid_request": "INVALID_ARGUMENT",
    "unsupported_feature": "INVALID_ARGUMENT",
    "too_large": "INVALID_ARGUMENT",
    "context_length": "INVALID_ARGUMENT",
    "content_filter": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "rate_limited": "RESOURCE_EXHAUSTED",
    "upstream_timeout": "DEADLINE_EXCEEDED",
    "no_route": "UNAVAILABLE",
    "overloaded": "UNAVAILABLE",
    "upstream_error": "UNAVAILABLE",
    "internal": "INTERNAL",
}
_DOMAIN = "turnout"


def rpc_status(err: GatewayError) -> str:
    if err.kind == "payment_required":
        return "RESOURCE_EXHAUSTED" if err.code == "quota_exceeded" else "FAILED_PRECONDITION"
    return _STATUS_FOR_KIND.get(err.kind, "INTERNAL")


def error_body(err: GatewayError) -> dict[str, Any]:
    inner: dict[str, Any] = {"code": err.status, "message": err.message, "status": rpc_status(err)}
    details: list[dict[str, Any]] = []
    delay = _retry_delay(err)
    if delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
    if err.param:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": err.param, "description": err.message}],
            }
        )
    if err.code:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": err.code, "domain": _DOMAIN})
    if details:
        inner["details"] = details
    return {"error": inner}


def _retry_delay(err: GatewayError) -> str | None:
    seconds: float | None = err.retry_after if isinstance(err, UpstreamError) else None
    if seconds is None:
        for name, value in err.headers.items():
            if name.lower() == "retry-after":
                try:
                    seconds = float(value)
                except ValueError:
                    return None
    if seconds is None or seconds < 0:
        return None
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds:g}s"
