"""A client's ``POST /v1/responses`` body decoded into a canonical ``ChatRequest``."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    HostedTool,
    ImagePart,
    Message,
    Reasoning,
    ResponseFormat,
    TextPart,
    Thinking,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from engine.errors import BadRequest
from providers.openai_responses.codec import ResponsesCodec
from providers.openai_responses.wire import REDACTED_PREFIX

CODEC = ResponsesCodec()
CALC = {
    "type": "function",
    "name": "calculator",
    "description": "A minimal calculator.",
    "parameters": {"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]},
    "strict": True,
}


def test_rich_request(snapshot: SnapshotAssertion) -> None:
    body = {
        "model": "gpt-5",
        "instructions": "You are terse.",
        "input": [
            {"role": "developer", "content": "Prefer metric units."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is in this image?"},
                    {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                ],
            },
        ],
        "tools": [CALC, {"type": "web_search_preview"}],
        "tool_choice": {"type": "function", "name": "calculator"},
        "parallel_tool_calls": False,
        "max_output_tokens": 500,
        "temperature": 0.2,
        "top_p": 0.9,
        "stream": True,
        "text": {
            "format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True},
            "verbosity": "low",
        },
        "reasoning": {"effort": "high", "summary": "detailed"},
        "metadata": {"team": "search"},
        "user": "u-1",
        "store": True,
        "include": ["reasoning.encrypted_content", "web_search_call.action.sources"],
        "previous_response_id": None,
        "truncation": "disabled",
        "prompt_cache_key": "k1",
    }
    request = CODEC.decode_request(body)
    # prompt_cache_key marks cache breakpoints: the system prompt, the last tool, the conversation
    assert request.system == [TextPart("You are terse."), TextPart("Prefer metric units.", cache="5m")]
    assert request.messages == [
        Message("user", [TextPart("What is in this image?"), ImagePart("https://example.com/a.png", "low", cache="5m")])
    ]
    assert [t.cache for t in request.tools] == ["5m"]
    assert request.hosted_tools == [
        HostedTool("web_search_preview", {"type": "web_search_preview"}, "openai-responses")
    ]
    assert request.tool_choice == ToolChoice("tool", "calculator")
    assert request.response_format == ResponseFormat("json_schema", {"type": "object"}, "answer", True)
    assert request.reasoning == Reasoning(effort="high", include_thoughts=True)
    assert request.stream and request.include_usage
    assert request.extras == {
        "text.verbosity": "low",
        "reasoning.summary": "detailed",
        "include": ["web_search_call.action.sources"],
    }
    assert request.cache_key == "k1" and request.hints == {}  # a caching hint, never a refusal
    assert request.extras_format == "openai-responses"
    assert request == snapshot


def test_string_input_is_one_user_message() -> None:
    request = CODEC.decode_request({"model": "m", "input": "Hello!"})
    assert request.messages == [Message("user", [TextPart("Hello!")])]
    assert request.extras == {} and request.system == []


def test_function_calling_turns() -> None:
    body = {
        "model": "gpt-5",
        "input": [
            {"role": "user", "content": "12+7?"},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "Use the tool."}],
                "encrypted_content": "gAAAA-enc",
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "calculator",
                "arguments": '{"a":12}',
                "status": "completed",
            },
            {"type": "function_call", "call_id": "call_2", "name": "calculator", "arguments": '{"a":7}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "12"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "7"}]},
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "phase": "final_answer",
                "content": [{"type": "output_text", "text": "19", "annotations": [], "logprobs": []}],
            },
            {"role": "user", "content": [{"type": "input_text", "text": "thanks"}]},
        ],
    }
    request = CODEC.decode_request(body)
    assert request.messages == [
        Message("user", [TextPart("12+7?")]),
        Message(
            "assistant",
            [
                Thinking("Use the tool.", signature="gAAAA-enc", origin="openai-responses"),
                ToolCall("call_1", "calculator", '{"a":12}'),
                ToolCall("call_2", "calculator", '{"a":7}'),
            ],
        ),
        Message("tool", [ToolResult("call_1", [TextPart("12")])]),
        Message("tool", [ToolResult("call_2", [TextPart("7")])]),
        Message("assistant", [TextPart("19")]),
        Message("user", [TextPart("thanks")]),
    ]


def test_redacted_thinking_comes_back_as_redacted() -> None:
    item = {"type": "reasoning", "summary": [], "encrypted_content": REDACTED_PREFIX + "opaque"}
    request = CODEC.decode_request({"model": "m", "input": [item, {"role": "user", "content": "go on"}]})
    assert request.messages[0] == Message("assistant", [Thinking("", redacted="opaque")])


def test_empty_reasoning_item_is_skipped() -> None:
    request = CODEC.decode_request(
        {"model": "m", "input": [{"type": "reasoning", "id": "rs_1", "summary": []}, {"role": "user", "content": "x"}]}
    )
    assert request.messages == [Message("user", [TextPart("x")])]


@pytest.mark.parametrize(
    ("body", "features"),
    [
        ({"previous_response_id": "resp_1"}, {"previous_response_id": "resp_1"}),
        ({"background": True}, {"background": True}),
        ({"truncation": "auto"}, {"truncation": "auto"}),
        ({"conversation": "conv_1"}, {"conversation": "conv_1"}),
        ({"prompt": {"id": "pmpt_1"}}, {"prompt": {"id": "pmpt_1"}}),
        ({"tool_choice": {"type": "file_search"}}, {"tool_choice": {"type": "file_search"}}),
        ({"reasoning": {"effort": "xhigh"}}, {"reasoning.effort": "xhigh"}),
        (
            {"text": {"format": {"type": "json_schema", "name": "n", "schema": {}, "description": "d"}}},
            {"text.format.description": "d"},
        ),
    ],
)
def test_stateful_and_unmapped_fields_go_to_extras(body: dict[str, Any], features: dict[str, Any]) -> None:
    request = CODEC.decode_request({"model": "m", "input": "x", **body})
    assert request.extras == features


@pytest.mark.parametrize(
    "body",
    [
        {"store": True},
        {"store": False},
        {"truncation": "disabled", "background": False, "service_tier": "auto", "top_logprobs": 0},
        {"include": ["reasoning.encrypted_content"]},
        {"stream_options": {"include_obfuscation": False}},
        {"text": {"format": {"type": "text"}, "verbosity": "medium"}},
        {"previous_response_id": None, "reasoning": None},
    ],
)
def test_defaults_and_stateless_settings_are_no_ops(body: dict[str, Any]) -> None:
    assert CODEC.decode_request({"model": "m", "input": "x", **body}).extras == {}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"input": "x", "tools": [{"type": "computer_use_preview"}]}, "tool type 'computer_use_preview'"),
        ({"input": "x", "tools": [{"type": "image_generation"}]}, "tool type 'image_generation'"),
        ({"input": "x", "tools": [{**CALC, "defer_loading": True}]}, "tools[0].defer_loading"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "stateless"),
        ({"input": [{"type": "local_shell_call", "call_id": "c", "action": {}}]}, "local_shell_call"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}, "file id"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}]},
            "input_file",
        ),
        ({"input": [{"role": "user", "content": "x", "cache": True}]}, "input[0].cache"),
        ({"input": [{"role": "tool", "content": "x"}]}, "role 'tool'"),
        ({"input": 3}, "input must be"),
        ({}, "input is required"),
        ({"input": "x", "temperature": "hot"}, "temperature must be a number"),
        ({"input": "x", "metadata": {"n": 1}}, "metadata.n"),
        ({"input": "x", "tool_choice": "sometimes"}, "tool_choice"),
    ],
)
def test_untranslatable_requests_are_refused_clearly(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(BadRequest) as info:
        CODEC.decode_request({"model": "m", **body})
    assert needle in info.value.message
    assert info.value.status == 400


def test_model_is_required() -> None:
    with pytest.raises(BadRequest, match="model is required"):
        CODEC.decode_request({"input": "x"})
