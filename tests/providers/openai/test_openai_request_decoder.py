"""OpenAI chat request body -> ChatRequest."""

from __future__ import annotations

from typing import Any

import pytest

from engine.canonical import (
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
from engine.errors import BadRequest
from providers.openai.codec import OpenAIChatCodec

codec = OpenAIChatCodec()


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **fields}


def test_full_request() -> None:
    request = codec.decode_request(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "use tools"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": "think",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "a cat"}]},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "look",
                        "description": "look at it",
                        "parameters": {"type": "object", "properties": {}},
                        "strict": True,
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "look"}},
            "parallel_tool_calls": False,
            "max_completion_tokens": 100,
            "temperature": 0.5,
            "top_p": 1,
            "stop": "END",
            "stream": True,
            "stream_options": {"include_usage": True},
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
            },
            "reasoning_effort": "low",
            "metadata": {"team": "a"},
            "user": "u-1",
            "seed": 7,
        }
    )
    assert request.system == [TextPart("be brief"), TextPart("use tools")]
    assert request.messages == [
        Message("user", [TextPart("what is this?"), ImagePart("https://x.test/a.png", "low")]),
        Message("assistant", [Thinking("think"), ToolCall("call_1", "look", "{}")]),
        Message("tool", [ToolResult("call_1", [TextPart("a cat")], name="look")]),
    ]
    assert request.tools == [Tool("look", "look at it", {"type": "object", "properties": {}}, True)]
    assert request.tool_choice == ToolChoice("tool", "look")
    assert request.parallel_tool_calls is False
    assert (request.max_tokens, request.temperature, request.top_p) == (100, 0.5, 1.0)
    assert request.stop == ["END"]
    assert request.stream and request.include_usage
    assert request.response_format == ResponseFormat("json_schema", {"type": "object"}, "out", True)
    assert request.reasoning == Reasoning(effort="low")
    assert request.metadata == {"team": "a"}
    assert request.user == "u-1"
    assert request.extras == {"seed": 7}
    assert request.extras_format == "openai"


def test_minimal_request_defaults() -> None:
    request = codec.decode_request(body())
    assert request.model == "gpt-4o"
    assert request.messages == [Message("user", [TextPart("hi")])]
    assert not request.stream and not request.include_usage
    assert request.tools == [] and request.tool_choice is None and request.stop == []
    assert request.max_tokens is None and request.reasoning is None and request.extras == {}


def test_assistant_text_refusal_and_parts() -> None:
    request = codec.decode_request(
        body(
            messages=[
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
                {"role": "assistant", "content": "b", "refusal": "nope"},
                {"role": "assistant", "content": "", "tool_calls": []},
            ]
        )
    )
    assert [m.parts for m in request.messages[1:]] == [
        [TextPart("a"), Refusal("no")],
        [TextPart("b"), Refusal("nope")],
        [],
    ]


def test_system_messages_are_hoisted_in_order() -> None:
    request = codec.decode_request(
        body(
            messages=[
                {"role": "user", "content": "1"},
                {"role": "system", "content": "late"},
                {"role": "developer", "content": "later"},
            ]
        )
    )
    assert request.system == [TextPart("late"), TextPart("later")]
    assert request.messages == [Message("user", [TextPart("1")])]


def test_tool_result_without_matching_call_has_no_name() -> None:
    request = codec.decode_request(body(messages=[{"role": "tool", "tool_call_id": "call_x", "content": "r"}]))
    assert request.messages == [Message("tool", [ToolResult("call_x", [TextPart("r")], name=None)])]


def test_max_tokens_legacy_and_both_equal() -> None:
    assert codec.decode_request(body(max_tokens=5)).max_tokens == 5
    assert codec.decode_request(body(max_tokens=5, max_completion_tokens=5)).max_tokens == 5


def test_tool_without_parameters_gets_an_empty_object_schema() -> None:
    request = codec.decode_request(body(tools=[{"type": "function", "function": {"name": "ping"}}]))
    assert request.tools == [Tool("ping", None, {"type": "object", "properties": {}}, None)]


@pytest.mark.parametrize("mode", ["auto", "none", "required"])
def test_tool_choice_strings(mode: str) -> None:
    assert codec.decode_request(body(tool_choice=mode)).tool_choice == ToolChoice(mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["text", "json_object"])
def test_simple_response_formats(kind: str) -> None:
    fmt = codec.decode_request(body(response_format={"type": kind})).response_format
    assert fmt is not None and fmt.kind == kind


def test_extras_keep_unknown_fields_and_drop_defaults_and_hints() -> None:
    request = codec.decode_request(
        body(
            n=3,
            logprobs=True,
            top_logprobs=2,
            presence_penalty=0.5,
            frequency_penalty=0,
            logit_bias={},
            store=False,
            service_tier="flex",
            modalities=["text"],
            prediction={"type": "content", "content": "x"},
            seed=None,
            safety_identifier="hash",
            prompt_cache_key="k",
            verbosity="low",
            stream_options={"include_usage": False, "include_obfuscation": False},
        )
    )
    assert request.extras == {
        "n": 3,
        "logprobs": True,
        "top_logprobs": 2,
        "presence_penalty": 0.5,
        "service_tier": "flex",
        "prediction": {"type": "content", "content": "x"},
        "verbosity": "low",
    }
    assert request.include_usage is False


def test_default_valued_n_and_store_true_are_distinguished() -> None:
    assert codec.decode_request(body(n=1, store=True)).extras == {"store": True}
    assert codec.decode_request(body(logprobs=False, presence_penalty=0.0)).extras == {}


@pytest.mark.parametrize("effort", ["none", "xhigh"])
def test_reasoning_effort_beyond_canonical_goes_to_extras(effort: str) -> None:
    request = codec.decode_request(body(reasoning_effort=effort))
    assert request.reasoning is None
    assert request.extras == {"reasoning_effort": effort}


def test_unknown_stream_options_go_to_extras() -> None:
    request = codec.decode_request(body(stream=True, stream_options={"include_usage": True, "future": 1}))
    assert request.include_usage is True
    assert request.extras == {"stream_options": {"future": 1}}


def test_model_from_argument_when_body_has_none() -> None:
    request = codec.decode_request({"messages": [{"role": "user", "content": "x"}]}, model="m1", stream=True)
    assert request.model == "m1" and request.stream


@pytest.mark.parametrize(
    ("payload", "message", "kind"),
    [
        ([1, 2], "request body: expected a JSON object", "invalid_request"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model: required", "invalid_request"),
        ({"model": "m"}, "messages: required", "invalid_request"),
        ({"model": "m", "messages": []}, "messages: must contain at least one message", "invalid_request"),
        ({"model": "m", "messages": {}}, "messages: expected an array", "invalid_request"),
        (body(messages=["hi"]), "messages[0]: expected an object", "invalid_request"),
        (body(messages=[{"content": "x"}]), "messages[0].role: required", "invalid_request"),
        (
            body(
                messages=[
                    {"role": "user", "content": "a"},
                    {"role": "user", "content": "b"},
                    {"role": "user", "content": 5},
                ]
            ),
            "messages[2].content: expected a string or an array of content parts",
            "invalid_request",
        ),
        (
            body(messages=[{"role": "bot", "content": "x"}]),
            "messages[0].role: unknown role 'bot'; expected system, developer, user, assistant or tool",
            "invalid_request",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "video"}]}]),
            "messages[0].content[0].type: unknown content part type 'video'; expected text or image_url",
            "invalid_request",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
            "messages[0].content[0].image_url.url: required",
            "invalid_request",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]),
            "messages[0].content[0].type: the content part type 'input_audio' is not supported by this gateway",
            "unsupported_feature",
        ),
        (
            body(messages=[{"role": "user", "content": "x", "name": "bob"}]),
            "messages[0].name: the message field 'name' is not supported by this gateway",
            "unsupported_feature",
        ),
        (
            body(messages=[{"role": "function", "name": None, "content": "x"}]),
            "messages[0].role: the legacy 'function' role (use 'tool') is not supported by this gateway",
            "unsupported_feature",
        ),
        (
            body(messages=[{"role": "tool", "content": "x"}]),
            "messages[0].tool_call_id: required",
            "invalid_request",
        ),
        (
            body(messages=[{"role": "system", "content": [{"type": "image_url"}]}]),
            "messages[0].content[0].type: expected 'text' (got 'image_url')",
            "invalid_request",
        ),
        (
            body(messages=[{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {}}]}]),
            "messages[0].tool_calls[0].function.name: required",
            "invalid_request",
        ),
        (
            body(tools=[{"type": "custom", "custom": {}}]),
            "tools[0].type: the tool type 'custom' is not supported by this gateway",
            "unsupported_feature",
        ),
        (
            body(tool_choice="any"),
            "tool_choice: expected 'auto', 'none', 'required' or an object (got 'any')",
            "invalid_request",
        ),
        (body(max_tokens=True), "max_tokens: expected an integer, got boolean (true)", "invalid_request"),
        (
            body(max_tokens=5, max_completion_tokens=6),
            "max_tokens: conflicts with max_completion_tokens; set only one of them",
            "invalid_request",
        ),
        (body(temperature="hot"), "temperature: expected a number", "invalid_request"),
        (body(stop=["a", 1]), "stop: expected a string or an array of strings", "invalid_request"),
        (body(stream="yes"), "stream: expected a boolean", "invalid_request"),
        (body(metadata={"a": 1}), "metadata.a: expected a string", "invalid_request"),
        (
            body(response_format={"type": "yaml"}),
            "response_format.type: expected 'text', 'json_object' or 'json_schema' (got 'yaml')",
            "invalid_request",
        ),
        (
            body(response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
            "response_format.json_schema.name: required",
            "invalid_request",
        ),
        (
            body(response_format={"type": "json_schema", "json_schema": {"name": "n", "description": "d"}}),
            "response_format.json_schema.description: a json_schema description is not supported by this gateway",
            "unsupported_feature",
        ),
    ],
)
def test_malformed_requests_name_the_field(payload: Any, message: str, kind: str) -> None:
    with pytest.raises(BadRequest) as info:
        codec.decode_request(payload)
    assert info.value.message == message
    assert info.value.kind == kind
    assert info.value.status == 400
