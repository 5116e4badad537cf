"""Upstream Gemini errors classified for retry/fallback, and gateway errors rendered as
Gemini error envelopes that the SDK understands."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from google.genai import errors as genai_errors

from engine.errors import (
    BadRequest,
    GatewayError,
    ModelNotFound,
    PaymentRequired,
    RateLimited,
    Unauthorized,
    UnsupportedFeature,
    UpstreamError,
)
from providers.gemini import GeminiCodec
from tests.providers.gemini.gemini_helpers import (
    adapter,
    decode_stream,
    endpoint,
    fixture_bytes,
    sdk_client,
)


def envelope(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    inner: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        inner["details"] = details
    return orjson.dumps({"error": inner})


def classify(status: int, body: bytes, headers: dict[str, str] | None = None) -> UpstreamError:
    return adapter().classify_error(status, headers or {}, body)


def test_429_retry_info_recording() -> None:
    err = classify(429, fixture_bytes("google-429-retry-info.json"), {"Retry-After": "99"})
    assert err.failure == "rate_limit"
    assert err.retry_after == 34.4  # RetryInfo wins over the header
    assert err.upstream_status == 429 and err.status == 429
    assert "You exceeded your current quota" in err.message


def test_429_without_retry_info_uses_the_header() -> None:
    err = classify(429, envelope(429, "RESOURCE_EXHAUSTED", "quota"), {"retry-after": "7"})
    assert (err.failure, err.retry_after) == ("rate_limit", 7.0)
    assert classify(429, envelope(429, "RESOURCE_EXHAUSTED", "quota")).retry_after is None


@pytest.mark.parametrize(
    ("status", "body", "failure"),
    [
        (500, envelope(500, "INTERNAL", "An internal error has occurred."), "server"),
        (503, envelope(503, "UNAVAILABLE", "The model is overloaded."), "server"),
        (504, envelope(504, "DEADLINE_EXCEEDED", "Deadline expired."), "server"),
        (
            400,
            envelope(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            ),
            "context_length",
        ),
        (
            400,
            envelope(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            ),
            "auth",
        ),
        (401, envelope(401, "UNAUTHENTICATED", "no creds"), "auth"),
        (403, envelope(403, "PERMISSION_DENIED", "denied"), "auth"),
        (404, envelope(404, "NOT_FOUND", "models/nope is not found"), "not_found"),
        (400, envelope(400, "FAILED_PRECONDITION", "User location is not supported for the API use."), "bad_request"),
        (
            400,
            b'[{"error": {"code": 400, "message": "Please ensure that the number of function response parts...", "status": "INVALID_ARGUMENT"}}]',
            "bad_request",
        ),
        (502, b"<html>Bad Gateway</html>", "server"),
    ],
)
def test_classification(status: int, body: bytes, failure: str) -> None:
    err = classify(status, body)
    assert err.failure == failure
    assert err.upstream_status == status
    assert err.retry_after is None


def test_non_json_error_quotes_a_bounded_prefix() -> None:
    err = classify(502, b"<html>" + b"x" * 5000)
    assert err.message.startswith("Gemini 502: <html>") and len(err.message) < 400


def test_in_band_stream_error_raises_classified() -> None:
    data = b'data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}]}\r\n\r\n'
    data += b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n'
    with pytest.raises(UpstreamError) as info:
        decode_stream(data)
    assert info.value.failure == "server" and info.value.upstream_status == 503


def test_error_body_on_200_is_classified() -> None:
    with pytest.raises(UpstreamError) as info:
        adapter().decode_response(envelope(429, "RESOURCE_EXHAUSTED", "quota"), endpoint())
    assert info.value.failure == "rate_limit"


@pytest.mark.parametrize(
    ("finish", "failure"),
    [
        ("MALFORMED_FUNCTION_CALL", "server"),
        ("OTHER", "server"),
        ("MISSING_THOUGHT_SIGNATURE", "bad_request"),
        ("SOMETHING_NEW", "server"),
    ],
)
def test_failed_finish_reasons_raise(finish: str, failure: str) -> None:
    body = orjson.dumps(
        {"candidates": [{"finishReason": finish, "finishMessage": "why", "index": 0}], "responseId": "r"}
    )
    with pytest.raises(UpstreamError) as info:
        adapter().decode_response(body, endpoint())
    assert info.value.failure == failure and finish in info.value.message


@pytest.mark.parametrize("finish", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"])
def test_blocking_finish_reasons_are_content_filter(finish: str) -> None:
    body = orjson.dumps({"candidates": [{"finishReason": finish, "index": 0}], "responseId": "r"})
    assert adapter().decode_response(body, endpoint()).stop_reason == "content_filter"


def test_blocked_prompt_is_content_filter() -> None:
    body = orjson.dumps(
        {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}
    )
    resp = adapter().decode_response(body, endpoint())
    assert (resp.stop_reason, resp.parts, resp.usage.input_tokens, resp.id) == ("content_filter", [], 5, "generated-id")
    events = decode_stream(b"data: " + body + b"\r\n\r\n")
    assert [type(e).__name__ for e in events] == ["StreamStart", "StreamEnd"]


def test_malformed_upstream_json_is_a_server_failure() -> None:
    with pytest.raises(UpstreamError) as info:
        adapter().decode_response(
            b'{"candidates": [{"content": {"parts": [{"text": 1}]}, "finishReason": "STOP"}]}', endpoint()
        )
    assert info.value.failure == "server" and "candidates[0].content.parts[0].text" in info.value.message


@pytest.mark.parametrize(
    ("err", "code", "status"),
    [
        (BadRequest("bad field", param="contents"), 400, "INVALID_ARGUMENT"),
        (UnsupportedFeature(["logit_bias"], "gemini"), 400, "INVALID_ARGUMENT"),
        (Unauthorized("no key"), 401, "UNAUTHENTICATED"),
        (PaymentRequired("top up", code="insufficient_balance"), 402, "FAILED_PRECONDITION"),
        (PaymentRequired("quota", code="quota_exceeded"), 402, "RESOURCE_EXHAUSTED"),
        (ModelNotFound("no such model"), 404, "NOT_FOUND"),
        (RateLimited("slow", headers={"Retry-After": "2"}), 429, "RESOURCE_EXHAUSTED"),
        (UpstreamError("timeout", "upstream timed out"), 504, "DEADLINE_EXCEEDED"),
        (UpstreamError("server", "upstream broke"), 502, "UNAVAILABLE"),
        (GatewayError("boom"), 500, "INTERNAL"),
    ],
)
def test_error_envelopes(err: GatewayError, code: int, status: str) -> None:
    body = orjson.loads(GeminiCodec().encode_error(err))
    assert body["error"]["code"] == code == err.status
    assert body["error"]["status"] == status
    assert body["error"]["message"] == err.message


def test_error_details_and_sdk_reading() -> None:
    err = UnsupportedFeature(["logit_bias"], "gemini")
    raw = GeminiCodec().encode_error(err)
    details = orjson.loads(raw)["error"]["details"]
    assert {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "unsupported_feature",
        "domain": "turnout",
    } in details
    assert details[0]["fieldViolations"][0]["field"] == "logit_bias"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(err.status, content=raw)

    with pytest.raises(genai_errors.ClientError) as info:
        sdk_client(handler).models.generate_content(model="m", contents="hi")
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert "logit_bias" in (info.value.message or "")
