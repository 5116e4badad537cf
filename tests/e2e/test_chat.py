"""Plain and streamed chat through an alias, with the official OpenAI SDK."""

from __future__ import annotations

import httpx
import openai
from openai.types.chat import ChatCompletionToolParam

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.wire_checks import route_fields, sse_data, sse_json

TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


def test_plain_chat_through_an_alias(client: openai.OpenAI, fake_a: FakeUpstream, fake_b: FakeUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="smart", messages=[{"role": "user", "content": "hello gateway"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "hello gateway"
    assert completion.model == "small-model"  # the public id that served, not the alias
    assert completion.usage is not None and completion.usage.prompt_tokens == 2
    assert raw.headers["x-request-id"]
    assert raw.headers["x-turnout-policy"]
    route = route_fields(raw.headers)
    assert route["alias"] == "smart"
    assert (route["channel"], route["model"], route["attempts"]) == ("primary", "small-model", "1")
    [received] = fake_a.requests
    assert received.model == "upstream-small"
    assert received.headers["authorization"] == "Bearer sk-fake-upstream-secret"
    assert fake_b.requests == []


def test_rules_pick_the_model_and_the_route_names_the_rule(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    url = f"{core_gateway.base_url}/v1/chat/completions"
    messages = [{"role": "user", "content": "hi"}]
    with_tools = httpx.post(url, json={"model": "smart", "messages": messages, "tools": [TOOL]})
    without = httpx.post(url, json={"model": "smart", "messages": messages})
    assert with_tools.status_code == without.status_code == 200
    assert with_tools.json()["model"] == "big-model"
    assert without.json()["model"] == "small-model"
    tools_route, plain_route = route_fields(with_tools.headers), route_fields(without.headers)
    assert tools_route["model"] == "big-model"
    assert int(plain_route["rule"]) == int(tools_route["rule"]) + 1  # second rule vs first
    assert [r.model for r in fake_a.requests] == ["upstream-big", "upstream-small"]


def test_stream_with_usage_when_asked(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="smart",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert {c.model for c in chunks} == {"small-model"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (3, 3)
    assert all(c.usage is None for c in body)
    assert [c.choices[0].finish_reason for c in body if c.choices][-1] == "stop"


def test_stream_without_usage_has_no_usage_chunk(client: openai.OpenAI, fake_a: FakeUpstream) -> None:
    stream = client.chat.completions.create(
        model="smart", messages=[{"role": "user", "content": "no usage please"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "no usage please"
    assert all(c.usage is None and c.choices for c in chunks)
    assert fake_a.requests[0].json["stream"] is True


def test_raw_stream_headers_and_framing(core_gateway: GatewayProcess) -> None:
    body = {"model": "smart", "messages": [{"role": "user", "content": "raw bytes"}], "stream": True}
    response = httpx.post(f"{core_gateway.base_url}/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"] and response.headers["x-turnout-policy"]
    assert route_fields(response.headers)["model"] == "small-model"
    data = sse_data(response.content)
    assert data[-1] == "[DONE]" and data.count("[DONE]") == 1
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in sse_json(response.content))
