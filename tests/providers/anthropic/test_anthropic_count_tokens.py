"""count_tokens: the local estimate, the response shape and the exact upstream call."""

from __future__ import annotations

import orjson
import pytest

from engine.canonical import (
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    ToolResult,
)
from engine.errors import UpstreamError
from providers.anthropic.adapter import AnthropicAdapter
from providers.anthropic.codec import AnthropicCodec
from providers.base import Endpoint
from tests.providers.anthropic._anthropic_fixtures import FIXTURES

EXAMPLE = orjson.loads((FIXTURES / "examples" / "count-tokens-constructed.json").read_bytes())
ENDPOINT = Endpoint("c", "anthropic", "https://api.anthropic.com/v1", "k", "claude-sonnet-4-5")


def test_estimate_is_close_to_the_documented_example() -> None:
    codec = AnthropicCodec()
    estimate = codec.count_tokens(codec.decode_count_tokens_request(EXAMPLE["request"]))
    assert estimate == 12  # 32 chars / 4 + one message; Anthropic counted 14
    assert abs(estimate - EXAMPLE["response"]["input_tokens"]) <= 4


def test_estimate_counts_every_kind_of_content() -> None:
    codec = AnthropicCodec()
    base = ChatRequest(model="m", messages=[Message("user", [TextPart("x" * 40)])])
    assert codec.count_tokens(base) == 14
    with_image = ChatRequest(model="m", messages=[Message("user", [TextPart("x" * 40), ImagePart("https://x/a.png")])])
    assert codec.count_tokens(with_image) == 14 + 1600
    with_tools = ChatRequest(
        model="m",
        messages=[
            Message("assistant", [ToolCall("t1", "abcd", "x" * 36)]),
            Message("tool", [ToolResult("t1", [TextPart("y" * 40), ImagePart("https://x/b.png")])]),
        ],
        tools=[Tool("abcd", "z" * 12, {})],
    )
    # (4 + 36) + 40 + (4 + 12 + len("{}")) chars = 98 -> 25 tokens; 2 messages; 1 image; preamble
    assert codec.count_tokens(with_tools) == 25 + 8 + 1600 + 300


def test_response_shape() -> None:
    assert orjson.loads(AnthropicCodec().encode_count_tokens(14)) == {"input_tokens": 14}


def test_exact_count_request_to_anthropic_drops_generation_fields() -> None:
    request = AnthropicCodec().decode_count_tokens_request(
        {**EXAMPLE["request"], "temperature": 0.3, "stop_sequences": ["x"], "metadata": {"user_id": "u"}}
    )
    built = AnthropicAdapter().build_count_tokens_request(request, ENDPOINT)
    assert built.url == "https://api.anthropic.com/v1/messages/count_tokens"
    assert built.headers["anthropic-version"] == "2023-06-01"
    assert orjson.loads(built.body) == {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "You are a scientist"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}],
    }


def test_exact_count_response() -> None:
    adapter = AnthropicAdapter()
    assert adapter.decode_count_tokens_response(b'{"input_tokens": 14}') == 14
    with pytest.raises(UpstreamError):
        adapter.decode_count_tokens_response(b'{"tokens": 14}')
