"""A ``GatewayError`` rendered as OpenAI's error envelope.

``{"error": {"message", "type", "param", "code"}}``: all four keys always present, ``param``
and ``code`` nullable (openapi ``ErrorResponse``). The ``type``/``code`` pairs follow what
OpenAI itself sends (``invalid_request_error`` + ``model_not_found`` for an unknown model,
``insufficient_quota`` for an exhausted balance, ``rate_limit_exceeded`` for 429s,
``server_error`` for failures on the serving side); the error's own ``code`` wins when set.
"""

from __future__ import annotations

from engine.errors import ErrorKind, GatewayError
from providers.openai.wire import WireErrorEnvelope

# kind -> (OpenAI error type, default code)
_SHAPES: dict[ErrorKind, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "unsupported_feature": ("invalid_request_error", "unsupported_feature"),
    "context_length": ("invalid_request_error", "context_length_exceeded"),
    "content_filter": ("invalid_request_error", "content_policy_violation"),
    "authentication": ("authentication_error", "invalid_api_key"),
    "permission": ("permission_error", None),
    "not_found": ("invalid_request_error", "model_not_found"),
    "payment_required": ("insufficient_quota", "insufficient_quota"),
    "too_large": ("invalid_request_error", "request_too_large"),
    "rate_limited": ("rate_limit_exceeded", "rate_limit_exceeded"),
    "no_route": ("server_error", "no_route"),
    "upstream_error": ("server_error", "upstream_error"),
    "upstream_timeout": ("server_error", "upstream_timeout"),
    "overloaded": ("server_error", "overloaded"),
    "internal": ("server_error", "internal_error"),
}


def error_body(err: GatewayError) -> WireErrorEnvelope:
    kind, default_code = _SHAPES.get(err.kind, ("server_error", None))
    return {
        "error": {
            "message": err.message,
            "type": kind,
            "param": err.param,
            "code": err.code or default_code,
        }
    }
