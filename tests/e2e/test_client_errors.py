"""Errors the gateway answers itself, in OpenAI's shape, with its headers."""

from __future__ import annotations

import json

import httpx
import openai

from tests.e2e.conftest import BODY_LIMIT
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.wire_checks import openai_error


def _url(gateway: GatewayProcess) -> str:
    return f"{gateway.base_url}/v1/chat/completions"


def test_malformed_json_is_400(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    response = httpx.post(
        _url(core_gateway), content=b'{"model": "smart", "messages": [', headers={"content-type": "application/json"}
    )
    openai_error(response, 400)
    assert response.headers["x-turnout-policy"]
    assert fake_a.requests == []


def test_unknown_model_is_404_naming_the_known_ids(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    response = httpx.post(
        _url(core_gateway), json={"model": "gpt-nope", "messages": [{"role": "user", "content": "x"}]}
    )
    error = openai_error(response, 404)
    assert "gpt-nope" in error["message"]
    assert "big-model" in error["message"] and "smart" in error["message"]
    assert fake_a.requests == []


def test_unknown_model_through_the_sdk(client: openai.OpenAI) -> None:
    try:
        client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
    except openai.NotFoundError as exc:
        assert exc.status_code == 404
        assert exc.request_id
    else:
        raise AssertionError("expected a 404")


def test_body_over_the_limit_is_413(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    big = "x" * (BODY_LIMIT + 1024)
    response = httpx.post(_url(core_gateway), json={"model": "smart", "messages": [{"role": "user", "content": big}]})
    openai_error(response, 413)
    assert fake_a.requests == []
    under = "y" * (BODY_LIMIT // 2)
    ok = httpx.post(_url(core_gateway), json={"model": "smart", "messages": [{"role": "user", "content": under}]})
    assert ok.status_code == 200


def test_no_route_is_503(core_gateway: GatewayProcess, fake_b: FakeUpstream) -> None:
    response = httpx.post(
        _url(core_gateway), json={"model": "orphan-model", "messages": [{"role": "user", "content": "x"}]}
    )
    openai_error(response, 503)
    assert fake_b.requests == []


def test_a_prompt_too_large_for_every_candidate_is_the_clients_400(
    core_gateway: GatewayProcess, fake_a: FakeUpstream
) -> None:
    """Not a 503: the request is the client's mistake, said as the vendors say it."""
    prompt = "word " * 40_000  # ~50,000 tokens by the estimate; solo-model's window is 8,000
    response = httpx.post(
        _url(core_gateway), json={"model": "solo-model", "messages": [{"role": "user", "content": prompt}]}
    )
    error = openai_error(response, 400)
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert "8000" in error["message"]
    assert fake_a.requests == []


def test_an_output_cap_beyond_every_window_is_a_400_not_a_503(
    core_gateway: GatewayProcess, fake_a: FakeUpstream
) -> None:
    body = {"model": "smart", "max_tokens": 10**12, "messages": [{"role": "user", "content": "x"}]}
    error = openai_error(httpx.post(_url(core_gateway), json=body), 400)
    assert error["code"] == "context_length_exceeded"
    float_cap = {**body, "max_tokens": 1e12}
    error = openai_error(httpx.post(_url(core_gateway), json=float_cap), 400)
    assert error["param"] == "max_tokens"
    assert fake_a.requests == []


def test_a_tool_schema_nested_hundreds_deep_is_a_400_without_a_traceback(
    core_gateway: GatewayProcess, fake_a: FakeUpstream
) -> None:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(300):
        schema = {"type": "object", "properties": {"x": schema}}
    tool = {"type": "function", "function": {"name": "deep", "parameters": schema}}
    body = {"model": "smart", "tools": [tool], "messages": [{"role": "user", "content": "x"}]}
    raw = json.dumps(body).encode()  # orjson itself refuses 255 levels: the gateway must not try
    response = httpx.post(_url(core_gateway), content=raw, headers={"content-type": "application/json"})
    error = openai_error(response, 400)
    assert "nested deeper" in error["message"]
    assert fake_a.requests == []
    assert "Traceback" not in core_gateway.logs()
