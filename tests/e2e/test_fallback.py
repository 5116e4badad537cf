"""Retry and fallback across channels and models, against scripted upstream failures.

Route of the alias ``smart`` without tools: small-model on primary (fake A, as
``upstream-small``), then small-model on backup (fake B), then the alias fallback
big-model on primary (``upstream-big``). ``[retry] attempts = 2`` per candidate.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import openai_wire
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Hang, Reset, Status
from tests.support.wire_checks import openai_error, route_fields

CONTEXT_ERROR = openai_wire.error_body(
    "This model's maximum context length is 8000 tokens. However, your messages resulted in 9100 tokens.",
    code="context_length_exceeded",
    param="messages",
)
SAFETY_ERROR = openai_wire.error_body(
    "Your request was rejected as a result of our safety system.", code="content_policy_violation"
)
BAD_PARAM_ERROR = openai_wire.error_body(
    "Invalid value for 'temperature': expected a number between 0 and 2.", code="invalid_value", param="temperature"
)


def chat(gateway: GatewayProcess, model: str, text: str = "ping", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, timeout=30)


def test_500_retries_then_falls_back_to_the_next_channel(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    fake_a.script("upstream-small", Status(500), Status(500))
    response = chat(core_gateway, "smart", "after five hundred")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "after five hundred"
    assert response.json()["model"] == "small-model"
    route = route_fields(response.headers)
    assert (route["channel"], route["model"], route["attempts"]) == ("backup", "small-model", "3")
    assert [r.model for r in fake_a.requests] == ["upstream-small", "upstream-small"]
    assert [r.model for r in fake_b.requests] == ["small-model"]


def test_alias_fallback_model_serves_when_every_channel_of_the_rule_failed(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    fake_a.script("upstream-small", Status(502), Status(503))
    fake_b.script("small-model", Status(500), Status(500))
    response = chat(core_gateway, "smart")
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "big-model"
    assert route_fields(response.headers)["model"] == "big-model"
    assert [r.model for r in fake_a.requests] == ["upstream-small", "upstream-small", "upstream-big"]


def test_429_waits_for_retry_after_then_falls_back(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    limited = Status(429, openai_wire.error_body("Rate limit reached", "rate_limit_error"), {"Retry-After": "1"})
    fake_a.script("upstream-small", limited, limited)
    response = chat(core_gateway, "smart")
    assert response.status_code == 200, response.text
    first, second = fake_a.requests
    assert second.received_at - first.received_at >= 0.9  # the retry honoured Retry-After: 1
    assert len(fake_b.requests) == 1
    assert route_fields(response.headers)["channel"] == "backup"


def test_429_then_success_on_the_same_channel(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    fake_a.script("upstream-small", Status(429, headers={"Retry-After": "1"}))
    response = chat(core_gateway, "smart")
    assert response.status_code == 200, response.text
    first, second = fake_a.requests
    assert second.received_at - first.received_at >= 0.9
    route = route_fields(response.headers)
    assert (route["channel"], route["attempts"]) == ("primary", "2")


def test_first_byte_timeout_falls_back_without_asking_the_silent_one_again(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    fake_a.script("upstream-small", Hang(10), Hang(10))
    response = chat(core_gateway, "smart", "slow path")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "slow path"
    route = route_fields(response.headers)
    assert route["channel"] == "backup"
    assert route["tried"].startswith("small-model@primary:first_byte_timeout")
    assert len(fake_b.requests) == 1
    hung = fake_a.requests
    assert len(hung) == 1  # a silent candidate is not asked again: the next one starts at once
    for entry in hung:  # the gateway gave up on the hung upstream and closed the connection
        assert entry.done.wait(10) and entry.disconnected


def test_connection_reset_falls_back(core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream) -> None:
    fake_a.script("upstream-small", Reset(), Reset())
    response = chat(core_gateway, "smart", "after reset")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "after reset"
    assert route_fields(response.headers)["channel"] == "backup"
    assert fake_a.requests and all(r.model == "upstream-small" for r in fake_a.requests)


def test_400_is_neither_retried_nor_fallen_back(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    fake_a.script("upstream-small", Status(400, BAD_PARAM_ERROR))
    response = chat(core_gateway, "smart", temperature=1.0)
    error = openai_error(response, 400)
    assert "temperature" in error["message"]
    assert len(fake_a.requests) == 1
    assert fake_b.requests == []


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_auth_errors_are_neither_retried_nor_fallen_back(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream, status: int
) -> None:
    fake_a.script("upstream-small", Status(status))
    response = chat(core_gateway, "smart")
    assert response.status_code in (status, 502)  # our upstream credentials, not the client's
    openai_error(response, response.status_code)
    assert len(fake_a.requests) == 1
    assert fake_b.requests == []


def test_context_length_error_falls_back_to_a_larger_context_model(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    fake_a.script("upstream-small", Status(400, CONTEXT_ERROR))
    response = chat(core_gateway, "smart", "a long prompt")
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "big-model"
    assert [r.model for r in fake_a.requests] == ["upstream-small", "upstream-big"]
    assert fake_b.requests == []  # backup serves the same 8000-token model: skipped


def test_content_policy_refusal_is_returned_without_fallback(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    fake_a.script("upstream-small", Status(400, SAFETY_ERROR))
    response = chat(core_gateway, "smart")
    error = openai_error(response, 400)
    assert "safety system" in error["message"]
    assert len(fake_a.requests) == 1
    assert fake_b.requests == []


def test_all_upstreams_failed_is_502_listing_each_attempt(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    fake_a.script("upstream-solo", Status(500), Status(503))
    response = chat(core_gateway, "solo-model")
    error = openai_error(response, 502)
    assert "primary" in error["message"]
    assert "500" in error["message"] and "503" in error["message"]
    assert response.headers["x-turnout-policy"]
    assert route_fields(response.headers)["attempts"] == "2"


def test_all_upstreams_timed_out_is_504(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    fake_a.script("upstream-solo", Hang(10), Hang(10))
    response = chat(core_gateway, "solo-model")
    error = openai_error(response, 504)
    assert "timeout" in error["message"]
    assert len(fake_a.requests) == 1  # timed out once: never asked again
