"""Upstream error classification and the error bodies Anthropic clients receive."""

from __future__ import annotations

import orjson
import pytest
from anthropic.types import ErrorResponse

from engine.errors import (
    AllUpstreamsFailed,
    AttemptSummary,
    BadRequest,
    ErrorKind,
    FailureKind,
    GatewayError,
    ModelNotFound,
    PayloadTooLarge,
    PaymentRequired,
    RateLimited,
    Unauthorized,
    UnsupportedFeature,
    UpstreamError,
)
from providers.anthropic.adapter import AnthropicAdapter
from providers.anthropic.codec import AnthropicCodec


def _body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_1"})


@pytest.mark.parametrize(
    ("status", "body", "failure"),
    [
        (
            429,
            _body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
            "rate_limit",
        ),
        (529, _body("overloaded_error", "Overloaded"), "server"),
        (500, _body("api_error", "Internal server error"), "server"),
        (503, b"<html>Service Unavailable</html>", "server"),
        (401, _body("authentication_error", "invalid x-api-key"), "auth"),
        (403, _body("permission_error", "Your API key does not have permission"), "auth"),
        (402, _body("billing_error", "Your credit balance is too low"), "auth"),
        (404, _body("not_found_error", "model: claude-nope"), "not_found"),
        (413, _body("request_too_large", "Request exceeds the maximum allowed number of bytes."), "bad_request"),
        (408, _body("timeout_error", "Request timed out"), "timeout"),
        (400, _body("invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"), "context_length"),
        (
            400,
            _body(
                "invalid_request_error", "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000"
            ),
            "context_length",
        ),
        (400, _body("invalid_request_error", "Output blocked by content filtering policy"), "content_filter"),
        (400, _body("invalid_request_error", "messages: text content blocks must be non-empty"), "bad_request"),
        (422, b"", "bad_request"),
    ],
)
def test_classify_error(status: int, body: bytes, failure: FailureKind) -> None:
    error = AnthropicAdapter().classify_error(status, {}, body)
    assert error.failure == failure
    assert error.upstream_status == status
    assert error.message.startswith(f"anthropic {status} ")


def test_upstream_message_and_type_are_kept() -> None:
    body = _body("invalid_request_error", "max_tokens: 128001 > 64000, which is the maximum allowed")
    error = AnthropicAdapter().classify_error(400, {}, body)
    assert (
        error.message == "anthropic 400 invalid_request_error: max_tokens: 128001 > 64000, which is the maximum allowed"
    )
    assert error.status == 400


def test_retry_after_header_is_read_case_insensitively() -> None:
    error = AnthropicAdapter().classify_error(429, {"Retry-After": "17"}, _body("rate_limit_error", "slow down"))
    assert error.retry_after == 17.0
    assert (
        AnthropicAdapter().classify_error(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"").retry_after
        is None
    )


def test_huge_non_json_bodies_are_truncated() -> None:
    error = AnthropicAdapter().classify_error(502, {}, b"x" * 5000)
    assert len(error.message) < 600


@pytest.mark.parametrize(
    ("err", "error_type"),
    [
        (BadRequest("messages: field required"), "invalid_request_error"),
        (UnsupportedFeature(["logprobs"], "anthropic"), "invalid_request_error"),
        (Unauthorized("invalid API key"), "authentication_error"),
        (PaymentRequired("insufficient balance"), "billing_error"),
        (ModelNotFound("unknown model"), "not_found_error"),
        (PayloadTooLarge("body too large"), "request_too_large"),
        (RateLimited("slow down"), "rate_limit_error"),
        (UpstreamError("timeout", "deadline"), "timeout_error"),
        (UpstreamError("context_length", "too long"), "invalid_request_error"),
        (AllUpstreamsFailed([AttemptSummary("c", "m", "server", 529, "Overloaded")]), "api_error"),
        (GatewayError("busy", status=529, kind="overloaded"), "overloaded_error"),
        (GatewayError("boom"), "api_error"),
    ],
)
def test_error_bodies_use_anthropic_error_types(err: GatewayError, error_type: str) -> None:
    body = orjson.loads(AnthropicCodec().encode_error(err))
    assert body == {"type": "error", "error": {"type": error_type, "message": err.message}}
    if error_type != "request_too_large":  # the API's 413 type, missing from the SDK's list
        ErrorResponse.model_validate(body)


def test_every_error_kind_has_an_error_type() -> None:
    kinds: tuple[ErrorKind, ...] = ErrorKind.__args__  # type: ignore[attr-defined]
    for kind in kinds:
        body = orjson.loads(AnthropicCodec().encode_error(GatewayError("x", kind=kind)))
        assert body["type"] == "error" and body["error"]["type"].endswith(("_error", "request_too_large"))
