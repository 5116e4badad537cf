"""Gateway errors rendered as OpenAI envelopes; upstream errors classified."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate

import orjson
import pytest

from engine.errors import (
    BadRequest,
    ErrorKind,
    FailureKind,
    GatewayError,
    ModelNotFound,
    PaymentRequired,
    RateLimited,
    Unauthorized,
    UnsupportedFeature,
)
from providers.openai.adapter import OpenAIChatAdapter
from providers.openai.codec import OpenAIChatCodec
from providers.openai.error_classifier import classify_http_error, classify_in_band

codec = OpenAIChatCodec()
adapter = OpenAIChatAdapter()


def envelope(message: str, type_: str = "invalid_request_error", code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


# ---- encode_error --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("err", "type_", "code"),
    [
        (BadRequest("messages: required", param="messages"), "invalid_request_error", None),
        (UnsupportedFeature(["n"], "anthropic"), "invalid_request_error", "unsupported_feature"),
        (
            GatewayError("too long", status=400, kind="context_length"),
            "invalid_request_error",
            "context_length_exceeded",
        ),
        (
            GatewayError("blocked", status=400, kind="content_filter"),
            "invalid_request_error",
            "content_policy_violation",
        ),
        (Unauthorized("bad key"), "authentication_error", "invalid_api_key"),
        (GatewayError("no", status=403, kind="permission"), "permission_error", None),
        (ModelNotFound("The model `x` does not exist"), "invalid_request_error", "model_not_found"),
        (
            PaymentRequired("balance exhausted", code="insufficient_balance"),
            "insufficient_quota",
            "insufficient_balance",
        ),
        (PaymentRequired("quota"), "insufficient_quota", "insufficient_quota"),
        (RateLimited("slow down"), "rate_limit_exceeded", "rate_limit_exceeded"),
        (GatewayError("all failed", status=502, kind="upstream_error"), "server_error", "upstream_error"),
        (GatewayError("boom"), "server_error", "internal_error"),
    ],
)
def test_encode_error_envelope(err: GatewayError, type_: str, code: str | None) -> None:
    data = orjson.loads(codec.encode_error(err))
    assert data == {"error": {"message": err.message, "type": type_, "param": err.param, "code": code}}


def test_every_error_kind_has_an_envelope() -> None:
    kinds: tuple[ErrorKind, ...] = ErrorKind.__args__  # type: ignore[attr-defined]
    for kind in kinds:
        data = orjson.loads(codec.encode_error(GatewayError("m", kind=kind)))
        assert set(data["error"]) == {"message", "type", "param", "code"}
        assert data["error"]["type"]


# ---- classify_error ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "failure", "client_status"),
    [
        (500, envelope("The server had an error", "server_error"), "server", 502),
        (503, b"<html>Service Unavailable</html>", "server", 502),
        (401, envelope("Incorrect API key provided", code="invalid_api_key"), "auth", 502),
        (403, envelope("Country not supported", code="unsupported_country_region_territory"), "auth", 502),
        (404, envelope("The model `x` does not exist", code="model_not_found"), "not_found", 502),
        (408, b"", "timeout", 504),
        (
            400,
            envelope("This model's maximum context length is 8192 tokens.", code="context_length_exceeded"),
            "context_length",
            400,
        ),
        (400, envelope("Please reduce the length; maximum context length is 4096 tokens"), "context_length", 400),
        (400, envelope("rejected by our safety system", code="content_policy_violation"), "content_filter", 400),
        (400, envelope("filtered", code="content_filter"), "content_filter", 400),
        (422, envelope("unprocessable"), "bad_request", 422),
    ],
)
def test_classify_by_status(status: int, body: bytes, failure: FailureKind, client_status: int) -> None:
    err = adapter.classify_error(status, {}, body)
    assert err.failure == failure
    assert err.upstream_status == status
    assert err.status == client_status
    assert err.retry_after is None


def test_recorded_unsupported_parameter_error(fixture_bytes: Callable[[str], bytes]) -> None:
    err = adapter.classify_error(400, {"x-request-id": "req_1"}, fixture_bytes("2026-legacy-parameter-error.json"))
    assert err.failure == "bad_request"
    assert err.status == 400
    assert err.message == (
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
    )


def test_rate_limit_with_retry_after_seconds() -> None:
    body = envelope("Rate limit reached for gpt-4o", "requests", "rate_limit_exceeded")
    err = adapter.classify_error(429, {"Retry-After": "7"}, body)
    assert (err.failure, err.status, err.retry_after) == ("rate_limit", 429, 7.0)
    assert err.message == "Rate limit reached for gpt-4o"


def test_rate_limit_with_http_date() -> None:
    now = 1_800_000_000.0
    headers = {"retry-after": formatdate(now + 30, usegmt=True)}
    err = classify_http_error(429, headers, b"{}", now=now)
    assert err.retry_after == 30.0
    assert err.message == "upstream returned HTTP 429"


def test_quota_429_is_a_rate_limit() -> None:
    body = envelope("You exceeded your current quota", "insufficient_quota", "insufficient_quota")
    err = adapter.classify_error(429, {}, body)
    assert err.failure == "rate_limit" and err.retry_after is None


def test_api_keys_are_masked_in_messages() -> None:
    body = envelope("Incorrect API key provided: sk-proj-abcdef123456. Also Bearer abcdef.ghijkl")
    err = adapter.classify_error(401, {}, body)
    assert "abcdef123456" not in err.message and "ghijkl" not in err.message
    assert err.message == "Incorrect API key provided: [redacted]. Also [redacted]"


def test_non_json_body_excerpt_and_truncation() -> None:
    err = adapter.classify_error(502, {}, b"Bad gateway from the proxy")
    assert err.message == "Bad gateway from the proxy"
    err = adapter.classify_error(400, {}, envelope("x" * 2000))
    assert len(err.message) == 503 and err.message.endswith("...")


@pytest.mark.parametrize(
    ("error", "failure", "status"),
    [
        ({"message": "Overloaded", "type": "server_error"}, "server", None),
        ({"message": "slow", "type": "tokens", "code": "rate_limit_exceeded"}, "rate_limit", None),
        ({"message": "max context", "code": "context_length_exceeded"}, "context_length", None),
        ({"message": "bad", "type": "invalid_request_error"}, "bad_request", None),
        ({"message": "Provider returned error", "code": 429}, "rate_limit", 429),
        ({"message": "gateway", "code": 502}, "server", 502),
        ("plain string error", "server", None),
    ],
)
def test_classify_in_band(error: object, failure: FailureKind, status: int | None) -> None:
    err = classify_in_band(error)
    assert err.failure == failure
    assert err.upstream_status == status
    assert err.message
