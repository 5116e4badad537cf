"""Non-streaming responses: Anthropic JSON -> ChatResponse (adapter) and back (codec)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic.types import Message as SDKMessage

from engine.canonical import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Refusal,
    TextPart,
    Thinking,
    ToolCall,
    Usage,
)
from engine.errors import GatewayError, UpstreamError
from providers.anthropic.adapter import AnthropicAdapter
from providers.anthropic.codec import AnthropicCodec
from providers.base import Endpoint
from tests.providers.anthropic._anthropic_fixtures import (
    CLOCK,
    MESSAGES,
    as_data,
    fixed_clock,
)

ENDPOINT = Endpoint("c", "anthropic", "https://api.anthropic.com/v1", "k", "claude-x")
REQUEST = ChatRequest(model="claude-x", messages=[])


def decode(body: bytes) -> ChatResponse:
    return AnthropicAdapter(clock=fixed_clock).decode_response(body, ENDPOINT)


def encode(response: ChatResponse) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(AnthropicCodec().encode_response(response, REQUEST))
    return body


def _response(*parts: Any, **fields: Any) -> ChatResponse:
    base: dict[str, Any] = {
        "id": "msg_1",
        "model": "claude-x",
        "parts": list(parts),
        "stop_reason": "end",
        "usage": Usage(input_tokens=10, output_tokens=5),
        "created": 1,
    }
    return ChatResponse(**{**base, **fields})


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_recorded_message_decodes(name: str, snapshot: Any) -> None:
    response = decode(MESSAGES[name].read_bytes())
    assert response.created == int(CLOCK)
    assert as_data(response) == snapshot


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_recorded_messages_survive_decode_then_encode(name: str) -> None:
    original = orjson.loads(MESSAGES[name].read_bytes())
    again = encode(decode(MESSAGES[name].read_bytes()))
    SDKMessage.model_validate(again)
    modelled = [
        {k: v for k, v in block.items() if k != "citations"}
        for block in original["content"]
        if block["type"] in ("text", "tool_use")
    ]
    assert again["content"] == modelled
    assert (again["id"], again["model"], again["stop_reason"]) == (
        original["id"],
        original["model"],
        original["stop_reason"],
    )
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        assert again["usage"][key] == original["usage"][key]


def test_usage_with_cache_is_normalised_and_denormalised() -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 7,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
            "output_tokens": 50,
            "output_tokens_details": {"thinking_tokens": 30},
        },
    }
    response = decode(orjson.dumps(body))
    assert response.usage == Usage(
        input_tokens=1207, output_tokens=50, cached_input_tokens=1000, cache_write_tokens=200, reasoning_tokens=30
    )
    assert encode(response)["usage"] == body["usage"]


def test_thinking_blocks_decode_with_signature_and_redaction() -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    response = decode(orjson.dumps(body))
    assert response.parts == [
        Thinking("hmm", signature="sig=="),
        Thinking("", redacted="opaque"),
        ToolCall("toolu_1", "f", '{"a":[1,2]}'),
    ]
    assert encode(response)["content"] == body["content"]


def test_error_and_garbage_bodies_raise_upstream_errors() -> None:
    with pytest.raises(UpstreamError) as caught:
        decode(b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
    assert caught.value.failure == "server"
    with pytest.raises(UpstreamError, match="non-JSON"):
        decode(b"<html>bad gateway</html>")


def test_encoded_message_is_a_valid_sdk_message(snapshot: Any) -> None:
    response = _response(
        Thinking("let me think"),
        TextPart("Checking."),
        ToolCall("call_abc", "get_weather", '{"city":"Paris"}'),
        stop_reason="tool_use",
        usage=Usage(input_tokens=100, output_tokens=20, cached_input_tokens=60, cache_write_tokens=10),
    )
    body = encode(response)
    message = SDKMessage.model_validate(body)
    assert message.usage.input_tokens == 30
    assert message.content[2].type == "tool_use" and message.content[2].id == "toolu_tr_call_abc"
    assert body == snapshot


@pytest.mark.parametrize(
    ("stop", "wire"),
    [
        ("end", "end_turn"),
        ("length", "max_tokens"),
        ("tool_use", "tool_use"),
        ("stop_sequence", "stop_sequence"),
        ("refusal", "refusal"),
        ("content_filter", "refusal"),
    ],
)
def test_stop_reasons(stop: Any, wire: str) -> None:
    assert encode(_response(TextPart("x"), stop_reason=stop))["stop_reason"] == wire


def test_refusal_parts_are_text_and_stop_sequence_is_kept() -> None:
    body = encode(_response(Refusal("I can't."), stop_reason="stop_sequence", stop_sequence="###"))
    assert body["content"] == [{"type": "text", "text": "I can't."}]
    assert body["stop_sequence"] == "###"


def test_empty_tool_arguments_are_an_empty_object() -> None:
    assert encode(_response(ToolCall("call_1", "now", "")))["content"][0]["input"] == {}


@pytest.mark.parametrize(
    "part", [ToolCall("call_1", "f", '{"a": '), ToolCall("call_1", "f", "[1]"), ImagePart("https://x/a.png")]
)
def test_output_anthropic_cannot_carry_is_a_502(part: Any) -> None:
    with pytest.raises(GatewayError) as caught:
        encode(_response(part))
    assert (caught.value.status, caught.value.kind) == (502, "upstream_error")
