"""Errors the gateway answers itself, in OpenAI's shape, with its headers."""

from __future__ import annotations

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
