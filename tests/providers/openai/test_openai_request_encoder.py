"""ChatRequest -> the upstream OpenAI request (OpenAIChatAdapter.build_request)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    ChatRequest,
    ImagePart,
    Message,
    Reasoning,
    Refusal,
    ResponseFormat,
    TextPart,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from engine.errors import UnsupportedFeature
from providers.base import Endpoint
from providers.openai.adapter import OpenAIChatAdapter
from providers.openai.codec import OpenAIChatCodec

adapter = OpenAIChatAdapter()
codec = OpenAIChatCodec()


def build(request: ChatRequest, endpoint: Endpoint) -> dict[str, Any]:
    upstream = adapter.build_request(request, endpoint)
    body = orjson.loads(upstream.body)
    assert isinstance(body, dict)
    return body


def simple(**fields: Any) -> ChatRequest:
    return ChatRequest(model="public", messages=[Message("user", [TextPart("hi")])], **fields)


def test_url_and_headers(endpoint: Endpoint) -> None:
    upstream = adapter.build_request(simple(), endpoint._replace(headers={"openai-organization": "org-1"}))
    assert upstream.method == "POST"
    assert upstream.url == "https://api.openai.com/v1/chat/completions"
    assert dict(upstream.headers) == {
        "content-type": "application/json",
        "authorization": "Bearer sk-test-secret-key-0123456789",
        "openai-organization": "org-1",
    }


def test_no_authorization_without_key(endpoint: Endpoint) -> None:
    upstream = adapter.build_request(simple(), endpoint._replace(api_key=None))
    assert "authorization" not in upstream.headers


def test_anthropic_shaped_request(endpoint: Endpoint, snapshot: SnapshotAssertion) -> None:
    """A conversation as another client format decodes it: tool results inside a user turn,
    thinking in history, several system parts, an error result, a budget instead of effort."""
    request = ChatRequest(
        model="public",
        system=[TextPart("rule 1"), TextPart("rule 2")],
        messages=[
            Message("user", [TextPart("look"), ImagePart("data:image/png;base64,AAAA")]),
            Message(
                "assistant",
                [Thinking("hidden", signature="sig"), TextPart("Looking."), ToolCall("toolu_1", "zoom", '{"x":1}')],
            ),
            Message(
                "user",
                [ToolResult("toolu_1", [TextPart("failed: too far")], is_error=True), TextPart("and now?")],
            ),
            Message("assistant", [Refusal("I won't.")]),
        ],
        tools=[Tool("zoom", None, {"type": "object", "properties": {"x": {"type": "integer"}}})],
        tool_choice=ToolChoice("required"),
        max_tokens=1024,
        stop=["\n\nHuman:"],
        reasoning=Reasoning(budget_tokens=4000),
        stream=True,
    )
    body = build(request, endpoint)
    assert body == snapshot
    assert body["model"] == "gpt-4o-2024-08-06"
    assert body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "medium"
    assert body["max_completion_tokens"] == 1024 and "max_tokens" not in body
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user", "assistant"]
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: failed: too far"}
    assert all("reasoning_content" not in m for m in body["messages"])


def test_openai_request_round_trips(endpoint: Endpoint) -> None:
    """decode(OpenAI body) -> encode gives back the client's own body (model aside)."""
    original: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "high"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "assistant", "content": "It is a cat."},
            {"role": "user", "content": "thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "look", "description": "d", "parameters": {"type": "object"}, "strict": False},
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "look"}},
        "parallel_tool_calls": True,
        "max_completion_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["x", "y"],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "o", "schema": {"type": "object"}, "strict": True},
        },
        "reasoning_effort": "high",
        "metadata": {"k": "v"},
        "user": "u",
        "seed": 42,
        "service_tier": "flex",
        "presence_penalty": 0.1,
    }
    body = build(codec.decode_request(original), endpoint)
    assert body == {**original, "model": "gpt-4o-2024-08-06"}


def test_stream_always_asks_for_usage(endpoint: Endpoint) -> None:
    request = codec.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True, "stream_options": {"future": 1}}
    )
    body = build(request, endpoint)
    assert body["stream"] is True
    assert body["stream_options"] == {"future": 1, "include_usage": True}


def test_params_merge_last_but_model_is_forced(endpoint: Endpoint) -> None:
    ep = endpoint._replace(params={"temperature": 0, "model": "other", "safety_identifier": "x"})
    body = build(simple(temperature=0.9), ep)
    assert body["temperature"] == 0
    assert body["safety_identifier"] == "x"
    assert body["model"] == "gpt-4o-2024-08-06"


def test_extras_from_another_format_are_refused(endpoint: Endpoint) -> None:
    request = simple(extras={"top_k": 5, "thinking": {}}, extras_format="anthropic")
    with pytest.raises(UnsupportedFeature) as info:
        adapter.build_request(request, endpoint)
    assert info.value.features == ["top_k", "thinking"]
    assert info.value.message == "not supported by the routed upstream (openai format): thinking, top_k"


@pytest.mark.parametrize(
    "extras",
    [
        {"n": 2},
        {"logprobs": True},
        {"top_logprobs": 3},
        {"audio": {"voice": "alloy", "format": "wav"}},
        {"modalities": ["text", "audio"]},
        {"functions": [{"name": "f"}]},
        {"web_search_options": {}},
    ],
)
def test_extras_whose_answer_cannot_be_carried_are_refused(endpoint: Endpoint, extras: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        adapter.build_request(simple(extras=extras, extras_format="openai"), endpoint)
    assert info.value.features == list(extras)


@pytest.mark.parametrize(
    ("budget", "effort"), [(0, "minimal"), (1024, "low"), (2048, "medium"), (8192, "high"), (-1, None)]
)
def test_budget_becomes_effort(endpoint: Endpoint, budget: int, effort: str | None) -> None:
    body = build(simple(reasoning=Reasoning(budget_tokens=budget)), endpoint)
    assert body.get("reasoning_effort") == effort


def test_response_formats(endpoint: Endpoint) -> None:
    assert build(simple(response_format=ResponseFormat("json_object")), endpoint)["response_format"] == {
        "type": "json_object"
    }
    schema = build(simple(response_format=ResponseFormat("json_schema", schema={"type": "object"})), endpoint)
    assert schema["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}},
    }


@pytest.mark.parametrize(
    ("message", "feature"),
    [
        (
            Message("user", [ToolResult("c", [ImagePart("https://x.test/i.png")])]),
            "messages[0]: image in a tool result",
        ),
        (Message("assistant", [ImagePart("https://x.test/i.png")]), "messages[0]: image in an assistant turn"),
        (Message("user", [ToolCall("c", "f", "{}")]), "messages[0]: tool call in a user turn"),
    ],
)
def test_unrepresentable_parts_are_refused(endpoint: Endpoint, message: Message, feature: str) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        adapter.build_request(ChatRequest(model="m", messages=[message]), endpoint)
    assert info.value.features == [feature]


def test_tool_result_shapes(endpoint: Endpoint) -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message("tool", [ToolResult("a", [])]),
            Message("tool", [ToolResult("b", [TextPart("1"), TextPart("2")])]),
            Message("tool", [ToolResult("c", [], is_error=True)]),
        ],
    )
    assert build(request, endpoint)["messages"] == [
        {"role": "tool", "tool_call_id": "a", "content": ""},
        {
            "role": "tool",
            "tool_call_id": "b",
            "content": [{"type": "text", "text": "1"}, {"type": "text", "text": "2"}],
        },
        {"role": "tool", "tool_call_id": "c", "content": "Error"},
    ]


def test_a_channel_that_caps_output_with_max_tokens_gets_max_tokens(endpoint: Endpoint) -> None:
    body = build(simple(max_tokens=300), endpoint._replace(max_tokens_field="max_tokens"))
    assert body["max_tokens"] == 300 and "max_completion_tokens" not in body
