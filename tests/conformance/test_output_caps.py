"""An output cap that is not an integer >= 1 is the client's mistake: a 400 in its own
error shape naming the field, before any upstream is called, whatever the upstream format
(the same-format passthrough included, and a body only the passthrough could carry)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.conformance.case import public_model
from tests.conformance.clients import ClosableDriver
from tests.conformance.clients.base import Turn
from tests.conformance.matrix import PAIRS
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess

FIELD = {
    "openai": "max_completion_tokens",  # what the SDK driver sends
    "openai-responses": "max_output_tokens",
    "anthropic": "max_tokens",
    "gemini": "generationConfig.maxOutputTokens",
}


@pytest.mark.parametrize("cap", [0, -5])
@pytest.mark.parametrize("pair", PAIRS, ids=[f"{c}->{u}" for c, u in PAIRS])
def test_a_cap_below_one_is_the_clients_400_naming_the_field(
    pair: tuple[str, str], cap: int, drivers: dict[str, ClosableDriver], fakes: dict[str, FakeUpstream]
) -> None:
    client, upstream = pair
    for fake in fakes.values():
        fake.reset()
    driver = drivers[client]
    failure = driver.fail(public_model(upstream), Turn("Hello.", max_tokens=cap))
    assert issubclass(failure.exception, driver.error_classes(400)), failure
    driver.check_error_shape(failure, 400)
    assert FIELD[client] in failure.message and str(cap) in failure.message
    if client.startswith("openai"):  # OpenAI's error shapes name it in `param`
        assert isinstance(failure.body, dict) and failure.body["param"] == FIELD[client], failure.body
    assert all(fake.requests == [] for fake in fakes.values())


@pytest.mark.parametrize("cap", [0, 1e12, "64", True])
def test_a_body_only_the_passthrough_carries_is_checked_the_same_way(
    cap: object, gateway: GatewayProcess, fakes: dict[str, FakeUpstream]
) -> None:
    # a PDF document block has no canonical form: only an Anthropic upstream could take it
    for fake in fakes.values():
        fake.reset()
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}
    body = {
        "model": public_model("anthropic"),
        "max_tokens": cap,
        "messages": [{"role": "user", "content": [pdf, {"type": "text", "text": "Summarise it."}]}],
    }
    response = httpx.post(f"{gateway.base_url}/v1/messages", json=body, headers={"x-api-key": "sk-ant"}, timeout=30)
    assert response.status_code == 400
    error = orjson.loads(response.content)
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith("max_tokens: expected an integer")
    assert fakes["anthropic"].requests == []
