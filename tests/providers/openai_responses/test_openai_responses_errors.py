"""Errors both ways: the client envelope, and classifying what the upstream returned."""

from __future__ import annotations

import orjson
import pytest

from engine.errors import (
    BadRequest,
    GatewayError,
    ModelNotFound,
    RateLimited,
    Unauthorized,
    UnsupportedFeature,
    UpstreamError,
)
from providers.openai_responses.adapter import ResponsesAdapter
from providers.openai_responses.codec import ResponsesCodec
from tests.providers.openai_responses.recordings import load_bytes

ADAPTER = ResponsesAdapter()


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (
            BadRequest("input is required", param="input"),
            {"type": "invalid_request_error", "param": "input", "code": None},
        ),
        (
            UnsupportedFeature(["stop"], "openai-responses"),
            {"type": "invalid_request_error", "param": "stop", "code": "unsupported_feature"},
        ),
        (Unauthorized("invalid API key"), {"type": "authentication_error", "param": None, "code": "invalid_api_key"}),
        (
            ModelNotFound("unknown model 'x'"),
            {"type": "invalid_request_error", "param": None, "code": "model_not_found"},
        ),
        (RateLimited("slow down"), {"type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}),
        (
            UpstreamError("context_length", "too long"),
            {"type": "invalid_request_error", "param": None, "code": "context_length_exceeded"},
        ),
        (GatewayError("internal error (request req_1)"), {"type": "server_error", "param": None, "code": None}),
    ],
)
def test_client_error_envelope(err: GatewayError, expected: dict[str, object]) -> None:
    body = orjson.loads(ResponsesCodec().encode_error(err))
    assert body == {"error": {"message": err.message, **expected}}


def test_recorded_quota_error_is_a_rate_limit() -> None:
    err = ADAPTER.classify_error(429, {"retry-after": "7"}, load_bytes("openai-error.1.json"))
    assert (err.failure, err.upstream_status, err.retry_after, err.status) == ("rate_limit", 429, 7.0, 429)
    assert "exceeded your current quota" in err.message


def test_recorded_parameter_error_is_a_bad_request_with_its_message() -> None:
    err = ADAPTER.classify_error(400, {}, load_bytes("reasoning-model-temperature-error.json"))
    assert (err.failure, err.status) == ("bad_request", 400)
    assert "'temperature' is not supported with this model" in err.message


@pytest.mark.parametrize(
    ("status", "headers", "body", "failure", "retry_after"),
    [
        (429, {"Retry-After-Ms": "1500"}, b"{}", "rate_limit", 1.5),
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"{}", "rate_limit", None),
        (500, {}, b'{"error":{"message":"boom","type":"server_error","param":null,"code":null}}', "server", None),
        (503, {}, b"upstream connect error", "server", None),
        (408, {}, b"", "timeout", None),
        (404, {}, b'{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}', "not_found", None),
        (
            400,
            {},
            b'{"error":{"message":"This model\'s maximum context length is 8192 tokens.","code":"context_length_exceeded"}}',
            "context_length",
            None,
        ),
        (
            400,
            {},
            b'{"error":{"message":"Your input exceeds the context window of this model.","code":null}}',
            "context_length",
            None,
        ),
        (
            400,
            {},
            b'{"error":{"message":"Invalid prompt: flagged as potentially violating our usage policy.","code":"invalid_prompt"}}',
            "content_filter",
            None,
        ),
        (422, {}, b'{"error":{"message":"bad","code":null}}', "bad_request", None),
    ],
)
def test_http_classification(
    status: int, headers: dict[str, str], body: bytes, failure: str, retry_after: float | None
) -> None:
    err = ADAPTER.classify_error(status, headers, body)
    assert (err.failure, err.upstream_status, err.retry_after) == (failure, status, retry_after)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_do_not_echo_the_upstream_message(status: int) -> None:
    body = b'{"error":{"message":"Incorrect API key provided: sk-proj-abcdef123456. You can find your API key at ...","code":"invalid_api_key"}}'
    err = ADAPTER.classify_error(status, {}, body)
    assert err.failure == "auth" and err.status == 502
    assert "sk-" not in err.message


def test_key_shaped_strings_are_masked_in_passed_on_messages() -> None:
    body = b'{"error":{"message":"Project key sk-proj-abcdef123456 lacks access to model x","code":null}}'
    err = ADAPTER.classify_error(400, {}, body)
    assert "abcdef123456" not in err.message and "sk-***" in err.message
