"""How a gateway error looks to a Responses client.

The HTTP body is OpenAI's envelope, ``{"error": {"message", "type", "param", "code"}}``
(all four keys always present, as the API does). Mid-stream, the same fields go into an
``error`` event and a ``response.failed`` object, whose ``error.code`` must be one of the
few codes the Response schema allows (see ``failed_code``).
"""

from __future__ import annotations

from engine.errors import ErrorKind, GatewayError
from providers.openai_responses.wire import JSONObject

# kind -> (OpenAI error type, default code)
_SHAPES: dict[ErrorKind, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "unsupported_feature": ("invalid_request_error", "unsupported_feature"),
    "authentication": ("authentication_error", "invalid_api_key"),  # as chat completions says it
    "payment_required": ("insufficient_quota", "insufficient_quota"),
    "permission": ("permission_error", "permission_denied"),
    "not_found": ("invalid_request_error", "model_not_found"),
    "too_large": ("invalid_request_error", "request_too_large"),
    "rate_limited": ("rate_limit_error", "rate_limit_exceeded"),
    "no_route": ("service_unavailable_error", "no_route"),
    "context_length": ("invalid_request_error", "context_length_exceeded"),
    "content_filter": ("invalid_request_error", "content_policy_violation"),
    "upstream_error": ("server_error", "upstream_error"),
    "upstream_timeout": ("server_error", "upstream_timeout"),
    "overloaded": ("server_error", "overloaded"),
    "internal": ("server_error", None),
}
_PROMPT_KINDS = frozenset({"invalid_request", "unsupported_feature", "context_length", "content_filter", "too_large"})


def error_fields(err: GatewayError) -> JSONObject:
    """``{"message", "type", "param", "code"}`` for ``err``."""
    err_type, default_code = _SHAPES.get(err.kind, ("server_error", None))
    return {"message": err.message, "type": err_type, "param": err.param, "code": err.code or default_code}


def error_body(err: GatewayError) -> JSONObject:
    return {"error": error_fields(err)}


def failed_code(err: GatewayError) -> str:
    """The ``Response.error.code`` for ``err``; the schema allows only a fixed set."""
    if err.kind == "rate_limited":
        return "rate_limit_exceeded"
    if err.kind in _PROMPT_KINDS:
        return "invalid_prompt"
    return "server_error"
