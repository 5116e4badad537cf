"""Upstream chat.completion -> ChatResponse (OpenAIChatAdapter.decode_response)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from engine.canonical import Refusal, TextPart, Thinking, ToolCall, Usage
from engine.errors import UpstreamError
from providers.base import Endpoint
from providers.openai.adapter import OpenAIChatAdapter

adapter = OpenAIChatAdapter()


def completion(message: dict[str, Any], finish: str = "stop", **extra: Any) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
            **extra,
        }
    )


def test_recorded_completion(endpoint: Endpoint, fixture_bytes: Callable[[str], bytes]) -> None:
    raw = fixture_bytes("2026-chat-completion.json")
    response = adapter.decode_response(raw, endpoint)
    expected_text = orjson.loads(raw)["choices"][0]["message"]["content"]
    assert response.id == "chatcmpl-D8Z5f52zQqikDBEKQMQoYcWMcWPeU"
    assert response.model == "gpt-4.1-nano-2025-04-14"
    assert response.created == 1770933883
    assert response.parts == [TextPart(expected_text)]
    assert response.stop_reason == "end"
    assert response.usage == Usage(input_tokens=16, output_tokens=363)


def test_tool_calls_reasoning_and_cached_usage(endpoint: Endpoint) -> None:
    raw = completion(
        {
            "content": None,
            "reasoning_content": "thinking...",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
                {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        "tool_calls",
        usage={
            "prompt_tokens": 100,
            "completion_tokens": 30,
            "total_tokens": 130,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 20},
        },
    )
    response = adapter.decode_response(raw, endpoint)
    assert response.parts == [
        Thinking("thinking..."),
        ToolCall("call_1", "f", '{"a":1}'),
        ToolCall("call_2", "g", "{}"),
    ]
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(input_tokens=100, output_tokens=30, cached_input_tokens=64, reasoning_tokens=20)


def test_deepseek_cache_hit_tokens(endpoint: Endpoint) -> None:
    usage = {"prompt_tokens": 50, "completion_tokens": 5, "prompt_cache_hit_tokens": 40, "prompt_cache_miss_tokens": 10}
    response = adapter.decode_response(completion({"content": "x"}, usage=usage), endpoint)
    assert response.usage == Usage(input_tokens=50, output_tokens=5, cached_input_tokens=40)


def test_refusal_sets_refusal_stop_reason(endpoint: Endpoint) -> None:
    response = adapter.decode_response(completion({"content": None, "refusal": "I can't."}), endpoint)
    assert response.parts == [Refusal("I can't.")]
    assert response.stop_reason == "refusal"


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("function_call", "tool_use"),
        (None, "end"),
        ("eos", "end"),
    ],
)
def test_finish_reasons(endpoint: Endpoint, finish: str | None, stop: str) -> None:
    response = adapter.decode_response(completion({"content": "x"}, finish), endpoint)  # type: ignore[arg-type]
    assert response.stop_reason == stop


def test_missing_model_falls_back_to_upstream_model(endpoint: Endpoint) -> None:
    raw = orjson.dumps({"id": "x", "choices": [{"message": {"content": [{"type": "text", "text": "hi"}]}}]})
    response = adapter.decode_response(raw, endpoint)
    assert response.model == "gpt-4o-2024-08-06"
    assert response.parts == [TextPart("hi")]
    assert response.usage == Usage()


@pytest.mark.parametrize(
    ("raw", "failure", "message"),
    [
        (b"<html>oops</html>", "server", "upstream sent a response that is not JSON"),
        (b"[]", "server", "upstream sent a response that is not a JSON object"),
        (b'{"id": "x", "choices": []}', "server", "upstream response has no choices"),
        (
            b'{"choices": [{"message": {"content": "a"}}, {"message": {"content": "b"}}]}',
            "server",
            "upstream returned 2 choices; only one can be relayed",
        ),
        (
            b'{"error": {"message": "Rate limit exceeded", "code": 429}}',
            "rate_limit",
            "Rate limit exceeded",
        ),
    ],
)
def test_bad_bodies_raise(endpoint: Endpoint, raw: bytes, failure: str, message: str) -> None:
    with pytest.raises(UpstreamError) as info:
        adapter.decode_response(raw, endpoint)
    assert info.value.failure == failure
    assert info.value.message == message
