"""ChatResponse -> chat.completion, checked against the official SDK's types."""

from __future__ import annotations

import orjson
import pytest
from openai.types.chat import ChatCompletion

from engine.canonical import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    Part,
    Refusal,
    StopReason,
    TextPart,
    Thinking,
    ToolCall,
    Usage,
)
from engine.errors import GatewayError
from providers.openai.codec import OpenAIChatCodec

codec = OpenAIChatCodec()
REQUEST = ChatRequest(model="public-model", messages=[Message("user", [TextPart("hi")])])


def response(parts: list[Part], stop: StopReason = "end", usage: Usage | None = None) -> ChatResponse:
    return ChatResponse(
        id="chatcmpl-1",
        model="public-model",
        parts=parts,
        stop_reason=stop,
        usage=usage or Usage(input_tokens=10, output_tokens=5),
        created=1700000000,
    )


def test_text_response_is_a_valid_completion() -> None:
    usage = Usage(input_tokens=100, output_tokens=40, cached_input_tokens=60, cache_write_tokens=5, reasoning_tokens=12)
    raw = codec.encode_response(response([TextPart("Hello "), TextPart("world")], usage=usage), REQUEST)
    data = orjson.loads(raw)
    assert data == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "public-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello world", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 40,
            "total_tokens": 140,
            "prompt_tokens_details": {"cached_tokens": 60},
            "completion_tokens_details": {"reasoning_tokens": 12},
        },
    }
    sdk = ChatCompletion.model_validate(data)
    assert sdk.choices[0].message.content == "Hello world"
    assert sdk.usage is not None and sdk.usage.prompt_tokens_details is not None
    assert sdk.usage.prompt_tokens_details.cached_tokens == 60


def test_tool_calls_and_reasoning() -> None:
    parts: list[Part] = [
        Thinking("let me see", signature="sig"),
        TextPart("calling"),
        ToolCall("call_1", "f", '{"a":1}'),
        ToolCall("call_2", "g", "{}"),
    ]
    data = orjson.loads(codec.encode_response(response(parts, "tool_use"), REQUEST))
    message = data["choices"][0]["message"]
    assert message["reasoning_content"] == "let me see"
    assert message["content"] == "calling"
    assert [c["id"] for c in message["tool_calls"]] == ["call_1", "call_2"]
    assert message["tool_calls"][0] == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a":1}'},
    }
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    sdk = ChatCompletion.model_validate(data)
    assert sdk.choices[0].message.tool_calls is not None and len(sdk.choices[0].message.tool_calls) == 2


def test_tool_calls_only_has_null_content() -> None:
    data = orjson.loads(codec.encode_response(response([ToolCall("c", "f", "")], "tool_use"), REQUEST))
    assert data["choices"][0]["message"]["content"] is None
    assert data["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert "reasoning_content" not in data["choices"][0]["message"]


def test_refusal() -> None:
    data = orjson.loads(codec.encode_response(response([Refusal("I can't help with that.")], "refusal"), REQUEST))
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    assert choice["finish_reason"] == "stop"
    ChatCompletion.model_validate(data)


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end", "stop"),
        ("length", "length"),
        ("tool_use", "tool_calls"),
        ("stop_sequence", "stop"),
        ("content_filter", "content_filter"),
        ("refusal", "content_filter"),  # a refusal stop without refusal text: the answer was cut
    ],
)
def test_finish_reason_mapping(stop: StopReason, finish: str) -> None:
    data = orjson.loads(codec.encode_response(response([TextPart("x")], stop), REQUEST))
    assert data["choices"][0]["finish_reason"] == finish


@pytest.mark.parametrize("part", [ImagePart("https://x.test/i.png")])
def test_unrepresentable_output_fails_loudly(part: ImagePart) -> None:
    with pytest.raises(GatewayError) as info:
        codec.encode_response(response([TextPart("x"), part]), REQUEST)
    assert info.value.status == 502
    assert "cannot carry" in info.value.message
