"""Static API keys (TURNOUT_API_KEYS): no key or a wrong key is 401 in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.e2e.conftest import StartGateway
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.wire_checks import openai_error

POLICY = """
[channels.only]
format = "openai"
base_url = "{a}"
api_key = "${{FAKE_KEY}}"
models = ["echo-model"]

[models.echo-model]
context_window = 8000
"""
BODY = {"model": "echo-model", "messages": [{"role": "user", "content": "let me in"}]}


@pytest.fixture(scope="module")
def gateway(launch: StartGateway, fake_a: FakeUpstream) -> Iterator[GatewayProcess]:
    yield launch(POLICY.format(a=fake_a.base_url), {"TURNOUT_API_KEYS": "sk-e2e-one, sk-e2e-two"})


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer sk-e2e-wrong"}, {"authorization": "sk-e2e-one"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_missing_or_wrong_key_is_401(gateway: GatewayProcess, fake_a: FakeUpstream, headers: dict[str, str]) -> None:
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=BODY, headers=headers)
    error = openai_error(response, 401)
    assert "sk-e2e-wrong" not in error["message"]  # never echo a key
    assert fake_a.requests == []


def test_models_need_a_key_too(gateway: GatewayProcess) -> None:
    openai_error(httpx.get(f"{gateway.base_url}/v1/models"), 401)


@pytest.mark.parametrize("key", ["sk-e2e-one", "sk-e2e-two"])
def test_a_configured_key_works(gateway: GatewayProcess, fake_a: FakeUpstream, key: str) -> None:
    with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0) as sdk:
        completion = sdk.chat.completions.create(
            model="echo-model", messages=[{"role": "user", "content": "let me in"}]
        )
        assert completion.choices[0].message.content == "let me in"
        with pytest.raises(openai.AuthenticationError):
            with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="sk-e2e-wrong", max_retries=0) as bad:
                bad.chat.completions.create(model="echo-model", messages=[{"role": "user", "content": "x"}])
    [received] = fake_a.requests
    assert received.headers["authorization"] == "Bearer sk-fake-upstream-secret"  # ours, not the client's


@pytest.mark.parametrize("key", [None, "sk-e2e-wrong"], ids=["missing", "wrong"])
def test_responses_and_chat_say_authentication_error_alike(
    gateway: GatewayProcess, fake_a: FakeUpstream, key: str | None
) -> None:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    shapes = {}
    for path, body in (
        ("/v1/chat/completions", BODY),
        ("/v1/responses", {"model": "echo-model", "input": "let me in"}),
    ):
        error = openai_error(httpx.post(f"{gateway.base_url}{path}", json=body, headers=headers), 401)
        shapes[path] = (error["type"], error["code"], error["param"])
    expected = ("authentication_error", "invalid_api_key" if key else "missing_api_key", None)
    assert shapes == {"/v1/chat/completions": expected, "/v1/responses": expected}
    with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key or "sk-e2e-wrong", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.responses.create(model="echo-model", input="let me in")
    assert (caught.value.type, caught.value.code) == ("authentication_error", "invalid_api_key")
    assert fake_a.requests == []
