"""A ``GatewayError`` as Anthropic's error body, for Anthropic clients (HTTP bodies and
in-band ``error`` stream events alike)."""

from __future__ import annotations

from typing import Any, Final

from engine.errors import ErrorKind, GatewayError

# The error ``type`` a client sees for each gateway error kind. Types are the ones the
# real API uses (anthropic.types.shared.ErrorType plus ``request_too_large`` for 413).
ERROR_TYPE_FOR_KIND: Final[dict[ErrorKind, str]] = {
    "invalid_request": "invalid_request_error",
    "unsupported_feature": "invalid_request_error",
    "context_length": "invalid_request_error",
    "content_filter": "invalid_request_error",
    "authentication": "authentication_error",
    "payment_required": "billing_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "too_large": "request_too_large",
    "rate_limited": "rate_limit_error",
    "no_route": "api_error",
    "upstream_error": "api_error",
    "upstream_timeout": "timeout_error",
    "overloaded": "overloaded_error",
    "internal": "api_error",
}


def error_body(err: GatewayError) -> dict[str, Any]:
    """``{"type": "error", "error": {"type", "message"}}``, for bodies and stream events."""
    return {"type": "error", "error": {"type": ERROR_TYPE_FOR_KIND[err.kind], "message": err.message}}
