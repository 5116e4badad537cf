"""Canonical ChatRequest -> the Anthropic upstream request (URL, headers, body)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

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
from engine.errors import BadRequest, UnsupportedFeature
from providers.anthropic.adapter import AnthropicAdapter
from providers.anthropic.codec import AnthropicCodec
from providers.base import Endpoint
from tests.providers.anthropic._anthropic_fixtures import FIXTURES

ENDPOINT = Endpoint(
    channel="anthropic-main",
    format="anthropic",
    base_url="https://api.anthropic.com/v1",
    api_key="sk-ant-secret",
    upstream_model="claude-sonnet-4-5",
)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def body_of(request: ChatRequest, endpoint: Endpoint = ENDPOINT) -> dict[str, Any]:
    built = AnthropicAdapter().build_request(request, endpoint)
    body: dict[str, Any] = orjson.loads(built.body)
    return body


def _chat(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="alias", messages=list(messages) or [Message("user", [TextPart("hi")])], **fields)


def _load(name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())
    body.pop("_comment", None)
    return body


def test_url_and_headers() -> None:
    built = AnthropicAdapter().build_request(_chat(), ENDPOINT)
    assert built.method == "POST"
    assert built.url == "https://api.anthropic.com/v1/messages"
    assert built.headers["x-api-key"] == "sk-ant-secret"
    assert built.headers["anthropic-version"] == "2023-06-01"
    assert built.headers["content-type"] == "application/json"


def test_channel_headers_are_added_last() -> None:
    endpoint = Endpoint(
        "c",
        "anthropic",
        "https://proxy.example/v1",
        None,
        "claude-x",
        headers={"anthropic-beta": "b1", "authorization": "Bearer t"},
    )
    built = AnthropicAdapter().build_request(_chat(), endpoint)
    assert "x-api-key" not in built.headers
    assert built.headers["anthropic-beta"] == "b1"
    assert built.headers["authorization"] == "Bearer t"


@pytest.mark.parametrize(
    "name", ["constructed/claude-code-multi-turn-request.json", "examples/messages-request-constructed.json"]
)
def test_an_anthropic_body_survives_decode_then_build(name: str) -> None:
    original = _load(name)
    request = AnthropicCodec().decode_request(original)
    built = body_of(request, Endpoint("c", "anthropic", "https://x/v1", "k", original["model"]))
    expected = copy.deepcopy(original)  # cache_control included: prompt caching survives the round trip
    if "tool_choice" in expected:  # disable_parallel_tool_use: false is the default
        expected["tool_choice"] = {"type": "auto"}
    for message in expected["messages"]:  # one text block is sent as the equivalent string
        for block in message["content"]:
            content = block.get("content") if block["type"] == "tool_result" else None
            if isinstance(content, list) and len(content) == 1 and content[0].keys() == {"type", "text"}:
                block["content"] = content[0]["text"]
    assert built == expected


def test_canonical_request_from_another_format(snapshot: Any) -> None:
    request = ChatRequest(
        model="alias",
        system=[TextPart("Be helpful."), TextPart("")],
        messages=[
            Message(
                "user", [TextPart("What's in this image?"), ImagePart(f"data:image/png;base64,{PNG}", detail="auto")]
            ),
            Message("user", [ImagePart("https://example.com/cat.jpg")]),
            Message(
                "assistant",
                [
                    TextPart(""),
                    Thinking("openai-style reasoning summary"),
                    ToolCall("call_abc123", "get_weather", '{"city": "Paris"}'),
                    ToolCall("call.with:odd|chars", "get_time", ""),
                ],
            ),
            Message("tool", [ToolResult("call_abc123", [TextPart("22C")], name="get_weather")]),
            Message("tool", [ToolResult("call.with:odd|chars", [], is_error=True)]),
            Message("user", [TextPart("Thanks")]),
            Message("assistant", [Refusal("I can't help with that.")]),
            Message("user", [TextPart("ok")]),
        ],
        tools=[
            Tool("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}, strict=True),
            Tool("get_time", None, {}),
        ],
        tool_choice=ToolChoice("required"),
        parallel_tool_calls=False,
        max_tokens=1000,
        temperature=0.5,
        top_p=0.9,
        stop=["STOP"],
        stream=True,
        include_usage=True,
        user="end-user-7",
    )
    assert body_of(request) == snapshot


def test_consecutive_tool_results_merge_into_one_user_turn() -> None:
    body = body_of(
        _chat(
            Message("user", [TextPart("weather in both?")]),
            Message("assistant", [ToolCall("call_1", "w", '{"c":"A"}'), ToolCall("call_2", "w", '{"c":"B"}')]),
            Message("tool", [ToolResult("call_1", [TextPart("sun")])]),
            Message("tool", [ToolResult("call_2", [TextPart("rain")])]),
        )
    )
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert [b["tool_use_id"] for b in body["messages"][2]["content"]] == ["call_1", "call_2"]


def test_default_max_tokens_comes_from_channel_params_or_4096() -> None:
    assert body_of(_chat())["max_tokens"] == 4096
    endpoint = Endpoint("c", "anthropic", "https://x/v1", "k", "claude-x", params={"max_tokens": 8192})
    assert body_of(_chat(), endpoint)["max_tokens"] == 8192
    assert body_of(_chat(max_tokens=10))["max_tokens"] == 10


def test_channel_params_are_merged_last() -> None:
    endpoint = Endpoint("c", "anthropic", "https://x/v1", "k", "claude-x", params={"temperature": 0.0, "top_k": 5})
    body = body_of(_chat(temperature=0.7), endpoint)
    assert (body["temperature"], body["top_k"]) == (0.0, 5)


@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "thinking", "final_max"),
    [
        (Reasoning(budget_tokens=0), None, {"type": "disabled"}, 4096),
        (Reasoning(budget_tokens=2000), None, {"type": "enabled", "budget_tokens": 2000}, 4096),
        (Reasoning(budget_tokens=500), None, {"type": "enabled", "budget_tokens": 1024}, 4096),
        (Reasoning(budget_tokens=10000), None, {"type": "enabled", "budget_tokens": 10000}, 14096),
        (Reasoning(effort="low"), 20000, {"type": "enabled", "budget_tokens": 2048}, 20000),
        (Reasoning(effort="high"), None, {"type": "enabled", "budget_tokens": 16384}, 20480),
        (Reasoning(effort="high"), 5000, {"type": "enabled", "budget_tokens": 4999}, 5000),
        (Reasoning(include_thoughts=True), 20000, {"type": "enabled", "budget_tokens": 8192}, 20000),
        (
            Reasoning(budget_tokens=2000, include_thoughts=False),
            None,
            {"type": "enabled", "budget_tokens": 2000, "display": "omitted"},
            4096,
        ),
    ],
)
def test_reasoning_maps_to_thinking(
    reasoning: Reasoning, max_tokens: int | None, thinking: dict[str, Any], final_max: int
) -> None:
    body = body_of(_chat(reasoning=reasoning, max_tokens=max_tokens))
    assert (body["thinking"], body["max_tokens"]) == (thinking, final_max)


def test_reasoning_without_anything_asked_sends_no_thinking() -> None:
    assert "thinking" not in body_of(_chat(reasoning=Reasoning(include_thoughts=False)))


def test_budget_that_does_not_fit_the_clients_max_tokens_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match=r"max_tokens \(3000\) above the thinking budget \(5000"):
        body_of(_chat(reasoning=Reasoning(budget_tokens=5000), max_tokens=3000))
    with pytest.raises(BadRequest, match="max_tokens"):
        body_of(_chat(reasoning=Reasoning(effort="low"), max_tokens=1000))


def test_json_schema_response_format_is_native_structured_output() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    body = body_of(_chat(response_format=ResponseFormat("json_schema", schema=schema, name="thing", strict=True)))
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


@pytest.mark.parametrize(
    ("request_fields", "feature"),
    [
        ({"response_format": ResponseFormat("json_object")}, "response_format json_object"),
        ({"extras": {"logprobs": True, "seed": 1}, "extras_format": "openai"}, "logprobs, seed"),
    ],
)
def test_what_anthropic_cannot_carry_is_unsupported(request_fields: dict[str, Any], feature: str) -> None:
    with pytest.raises(UnsupportedFeature) as caught:
        body_of(_chat(**request_fields))
    assert caught.value.message.endswith(f"(anthropic format): {feature}")


def test_caller_metadata_tags_are_not_sent_and_not_refused() -> None:
    body = body_of(_chat(metadata={"tag": "x"}))
    assert "metadata" not in body


def test_low_image_detail_and_assistant_images_are_unsupported() -> None:
    with pytest.raises(UnsupportedFeature, match="image detail 'low'"):
        body_of(_chat(Message("user", [ImagePart("https://x/a.png", detail="low")])))
    with pytest.raises(UnsupportedFeature, match="image in an assistant message"):
        body_of(_chat(Message("user", [TextPart("a")]), Message("assistant", [ImagePart("https://x/a.png")])))


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            Message("assistant", [ToolCall("c1", "f", "{not json")]),
            "messages.0: arguments of tool call 'c1' (f) are not a JSON object",
        ),
        (Message("assistant", [ToolCall("c1", "f", "[1, 2]")]), "are not a JSON object"),
        (Message("user", [ImagePart("ftp://x/a.png")]), "messages.0: image URL must be http(s) or a base64 data URL"),
        (Message("user", [ImagePart("data:image/png,abc")]), "messages.0: image data URLs must look like"),
        (Message("user", [ToolCall("c1", "f", "{}")]), "messages.0: tool calls are only allowed in assistant messages"),
        (Message("assistant", [ToolResult("c1", [])]), "messages.0: tool results are only allowed"),
    ],
)
def test_untranslatable_history_is_a_bad_request(message: Message, error: str) -> None:
    with pytest.raises(BadRequest) as caught:
        body_of(_chat(message))
    assert error in caught.value.message


def test_temperature_above_one_is_rejected() -> None:
    with pytest.raises(BadRequest, match="temperature: 1.5 is out of Anthropic's range 0..1"):
        body_of(_chat(temperature=1.5))


def test_anthropic_extras_are_forwarded_with_server_tools_and_tool_fields() -> None:
    codec = AnthropicCodec()
    web_search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
    request = codec.decode_request(
        {
            "model": "m",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "news?"}],
            "tools": [{"name": "Read", "input_schema": {"type": "object"}, "defer_loading": True}, web_search],
            "top_k": 5,
            "thinking": {"type": "adaptive"},
            "metadata": {"user_id": "u", "future_key": 1},
            "output_config": {"effort": "max"},
        }
    )
    body = body_of(request)
    assert body["tools"] == [web_search, {"name": "Read", "input_schema": {"type": "object"}, "defer_loading": True}]
    assert (body["top_k"], body["thinking"]) == (5, {"type": "adaptive"})
    assert body["metadata"] == {"future_key": 1, "user_id": "u"}
    assert body["output_config"] == {"effort": "max"}


def test_claude_codes_first_request_rebuilt_for_anthropic() -> None:
    """Claude Code's own request, decoded and built again (the resume path): every field it
    sent reaches Anthropic as it was sent, the system turn aside (marked user text)."""
    sent = orjson.loads((FIXTURES.parent / "agents" / "claude-code-2.1.332-first-request.json").read_bytes())["body"]
    body = body_of(AnthropicCodec().decode_request(sent))
    for key in ("thinking", "context_management", "output_config", "metadata", "max_tokens", "stream", "system"):
        assert body[key] == sent[key], key
    assert sorted(t["name"] for t in body["tools"]) == sorted(t["name"] for t in sent["tools"])
    assert [t for t in body["tools"] if t["name"] == "DeferredToolPlaceholder"][0]["defer_loading"] is True
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["messages"][0]["content"][2]["text"].startswith("<system>\n# Environment")


def test_anthropic_extras_are_unsupported_elsewhere_by_name() -> None:
    request = AnthropicCodec().decode_request(
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "top_k": 3}
    )
    request.extras_format = "openai"  # what another adapter sees: not its own format
    with pytest.raises(UnsupportedFeature, match="top_k"):
        body_of(request)


def test_tool_choice_without_tools_is_only_sent_when_it_forces_a_call() -> None:
    assert "tool_choice" not in body_of(_chat(tool_choice=ToolChoice("auto"), parallel_tool_calls=False))
    assert body_of(_chat(tool_choice=ToolChoice("tool", "f")))["tool_choice"] == {"type": "tool", "name": "f"}
    tools = [Tool("f", None, {"type": "object"})]
    assert body_of(_chat(tools=tools, parallel_tool_calls=False))["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    assert body_of(_chat(tools=tools, tool_choice=ToolChoice("none")))["tool_choice"] == {"type": "none"}


def test_cache_hints_are_sent_as_cache_control_with_their_lifetime() -> None:
    request = ChatRequest(
        model="claude-x",
        system=[TextPart("rules", cache="1h")],
        tools=[Tool("t", None, {"type": "object"}, cache="5m")],
        messages=[
            Message("user", [TextPart("hi", cache="5m")]),
            Message("assistant", [ToolCall("c1", "t", "{}")]),
            Message("tool", [ToolResult("c1", [TextPart("done", cache="1h")])]),
        ],
        max_tokens=10,
    )
    body = body_of(request, ENDPOINT)
    assert body["system"] == [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][0]["content"] == [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]
    result = body["messages"][2]["content"][0]
    assert result["content"] == [{"type": "text", "text": "done", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
