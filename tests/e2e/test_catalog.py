"""What the gateway tells clients about itself: models, one model, status, explain."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.wire_checks import openai_error


def _entries(gateway: GatewayProcess) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{gateway.base_url}/v1/models")
    assert response.status_code == 200
    assert response.headers["x-request-id"] and response.headers["x-turnout-policy"]
    body = response.json()
    assert body["object"] == "list"
    return {entry["id"]: entry for entry in body["data"]}


def test_models_list_models_and_aliases_with_their_facts(core_gateway: GatewayProcess) -> None:
    entries = _entries(core_gateway)
    assert {"big-model", "small-model", "solo-model", "smart"} <= set(entries)
    big = entries["big-model"]
    assert big["object"] == "model"
    assert big["context_window"] == 200000
    assert set(big["capabilities"]) == {"tools", "vision", "json"}
    assert (big["price"]["input"], big["price"]["output"]) == (1.0, 2.0)
    small = entries["small-model"]
    assert small["context_window"] == 8000
    assert (small["price"]["input"], small["price"]["output"]) == (0.1, 0.2)
    assert entries["smart"]["object"] == "model"


def test_models_through_the_sdk(client: openai.OpenAI, fake_a: FakeUpstream) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"big-model", "small-model", "smart"} <= ids
    assert client.models.retrieve("big-model").id == "big-model"
    assert fake_a.requests == []  # served from the policy, not from upstreams


def test_one_model_and_its_404(core_gateway: GatewayProcess) -> None:
    found = httpx.get(f"{core_gateway.base_url}/v1/models/small-model")
    assert found.status_code == 200
    assert found.json()["id"] == "small-model"
    assert found.json()["context_window"] == 8000
    error = openai_error(httpx.get(f"{core_gateway.base_url}/v1/models/no-such-model"), 404)
    assert "no-such-model" in error["message"]


def test_status_reports_the_policy_version_the_responses_carry(core_gateway: GatewayProcess) -> None:
    status = httpx.get(f"{core_gateway.base_url}/api/status")
    assert status.status_code == 200
    policy = status.json()["policy"]
    assert policy["last_error"] is None
    assert policy["loaded_at"]
    models = httpx.get(f"{core_gateway.base_url}/v1/models")
    assert models.headers["x-turnout-policy"] == policy["version"]
    assert status.headers["x-turnout-policy"] == policy["version"]


def test_explain_plans_without_calling_upstreams(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    request = {"model": "smart", "messages": [{"role": "user", "content": "x"}], "tools": [tool]}
    with_tools = httpx.post(f"{core_gateway.base_url}/api/explain", json={"model": "smart", "request": request})
    del request["tools"]
    plain = httpx.post(f"{core_gateway.base_url}/api/explain", json={"model": "smart", "request": request})
    assert with_tools.status_code == plain.status_code == 200
    tools_text, plain_text = orjson.dumps(with_tools.json()).decode(), orjson.dumps(plain.json()).decode()
    assert "big-model" in tools_text and "small-model" not in tools_text
    assert "small-model" in plain_text and "backup" in plain_text
    assert fake_a.requests == [] and fake_b.requests == []
