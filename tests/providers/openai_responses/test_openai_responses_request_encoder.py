"""Canonical requests built into upstream ``POST /responses`` requests."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
)
from pydantic import TypeAdapter
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    ChatRequest,
    ImagePart,
    Message,
    Reasoning,
    Refusal,
    ResponseFormat,
    StreamStart,
    TextPart,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from engine.errors import UnsupportedFeature
from providers.base import (
    ClientCodec,
    Endpoint,
    StreamDecoder,
    StreamEncoder,
    UpstreamAdapter,
)
from providers.openai_responses.adapter import ResponsesAdapter
from providers.openai_responses.codec import ResponsesCodec

ADAPTER = ResponsesAdapter()
ENDPOINT = Endpoint(
    channel="openai-main",
    format="openai-responses",
    base_url="https://api.openai.com/v1",
    api_key="sk-test-key",
    upstream_model="gpt-5-2025-08-07",
)
CREATE_PARAMS: TypeAdapter[Any] = TypeAdapter(ResponseCreateParamsNonStreaming)


def _body(request: ChatRequest, endpoint: Endpoint = ENDPOINT) -> dict[str, Any]:
    built = ADAPTER.build_request(request, endpoint)
    body = orjson.loads(built.body)
    assert isinstance(body, dict)
    _validate(body)
    return body


def _validate(body: dict[str, Any]) -> None:
    """Validate against the SDK's request type. The SDK marks a reasoning item's ``id``
    required, but the API accepts id-less reasoning items from stateless callers (the
    Codex CLI sends them that way), so a placeholder id is added for the check only."""
    checked = copy.deepcopy(body)
    checked.pop("stream", None)
    for item in checked.get("input", []):
        if item.get("type") == "reasoning":
            item["id"] = "rs_placeholder"
    CREATE_PARAMS.validate_python(checked)


def test_rich_request(snapshot: SnapshotAssertion) -> None:
    request = ChatRequest(
        model="alias",
        system=[TextPart("You are terse."), TextPart("Use metric units.")],
        messages=[
            Message("user", [TextPart("What is this?"), ImagePart("data:image/png;base64,AAAA")]),
            Message(
                "assistant", [Thinking("Look closely.", signature="gAAAA-enc"), TextPart("A cat."), Refusal("No more.")]
            ),
            Message("user", [TextPart("Thanks")]),
        ],
        tools=[
            Tool("calculator", "adds", {"type": "object", "properties": {}}),
            Tool("strict_fn", None, {"type": "object"}, strict=True),
        ],
        tool_choice=ToolChoice("required"),
        parallel_tool_calls=True,
        max_tokens=256,
        temperature=0.5,
        top_p=0.8,
        stream=True,
        include_usage=True,
        response_format=ResponseFormat("json_schema", {"type": "object"}, strict=True),
        reasoning=Reasoning(effort="low", include_thoughts=True),
        metadata={"k": "v"},
        user="end-user-1",
    )
    built = ADAPTER.build_request(request, ENDPOINT)
    assert built.method == "POST"
    assert built.url == "https://api.openai.com/v1/responses"
    assert built.headers["Authorization"] == "Bearer sk-test-key"
    assert built.headers["Accept"] == "text/event-stream"
    body = _body(request)
    assert body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["model"] == "gpt-5-2025-08-07"
    assert "id" not in body["input"][1]
    assert body == snapshot


def test_plain_request_is_minimal() -> None:
    request = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])])
    built = ADAPTER.build_request(request, ENDPOINT)
    assert "Accept" not in built.headers
    assert orjson.loads(built.body) == {
        "model": "gpt-5-2025-08-07",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "store": False,
    }


def test_function_calling_multi_turn_survives_decode_then_build() -> None:
    """A Responses client's function-calling history, decoded and rebuilt for a Responses
    upstream, keeps every item (ids dropped: nothing is stored upstream; the assistant
    message in the documented id-less form, string content)."""
    history: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "12+7, then times 3?"}]},
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Two steps."}],
            "encrypted_content": "gAAAA-1",
        },
        {"type": "function_call", "call_id": "call_1", "name": "calculator", "arguments": '{"a":12,"b":7,"op":"add"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "19"},
        {
            "type": "function_call",
            "call_id": "call_2",
            "name": "calculator",
            "arguments": '{"a":19,"b":3,"op":"multiply"}',
        },
        {"type": "function_call_output", "call_id": "call_2", "output": "57"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "57"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Now divide by 3."}]},
    ]
    with_ids = copy.deepcopy(history)
    with_ids[1]["id"] = "rs_1"
    with_ids[2] |= {"id": "fc_1", "status": "completed"}
    with_ids[6] |= {"id": "msg_1", "status": "completed"}
    client_body = {
        "model": "gpt-5",
        "input": with_ids,
        "tools": [{"type": "function", "name": "calculator", "parameters": {"type": "object"}, "strict": True}],
        "reasoning": {"effort": "medium"},
    }
    request = ResponsesCodec().decode_request(client_body)
    body = _body(request)
    assert body["input"] == [*history[:6], {"type": "message", "role": "assistant", "content": "57"}, history[7]]
    assert body["tools"] == client_body["tools"]
    assert body["reasoning"] == {"effort": "medium"}


def test_responses_extras_are_merged_back() -> None:
    client_body = {
        "model": "gpt-5",
        "input": "search the news",
        "tools": [{"type": "web_search"}],
        "include": ["web_search_call.action.sources"],
        "reasoning": {"effort": "xhigh", "summary": "detailed"},
        "text": {"verbosity": "low"},
        "previous_response_id": "resp_prev",
        "prompt_cache_key": "k",
    }
    body = _body(ResponsesCodec().decode_request(client_body))
    assert body["tools"] == [{"type": "web_search"}]
    assert body["include"] == ["reasoning.encrypted_content", "web_search_call.action.sources"]
    assert body["reasoning"] == {"summary": "detailed", "effort": "xhigh"}
    assert body["text"] == {"verbosity": "low"}
    assert (body["previous_response_id"], body["prompt_cache_key"], body["store"]) == ("resp_prev", "k", False)


def test_channel_params_override_last() -> None:
    endpoint = Endpoint(
        "c",
        "openai-responses",
        "https://x/v1",
        None,
        "m",
        headers={"OpenAI-Project": "p"},
        params={"service_tier": "flex", "store": True},
    )
    built = ADAPTER.build_request(ChatRequest(model="m", messages=[Message("user", [TextPart("x")])]), endpoint)
    body = orjson.loads(built.body)
    assert (body["service_tier"], body["store"]) == ("flex", True)
    assert "Authorization" not in built.headers
    assert built.headers["OpenAI-Project"] == "p"


def test_tool_results_with_images_are_a_list() -> None:
    result = ToolResult("call_1", [TextPart("see"), ImagePart("https://x/p.png", "high")])
    body = _body(ChatRequest(model="m", messages=[Message("tool", [result])]))
    assert body["input"] == [
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": [
                {"type": "input_text", "text": "see"},
                {"type": "input_image", "image_url": "https://x/p.png", "detail": "high"},
            ],
        }
    ]


def test_thinking_without_signature_is_not_sent() -> None:
    messages = [
        Message("user", [TextPart("q")]),
        Message("assistant", [Thinking("plain thoughts"), Thinking("", redacted="anthropic-blob"), TextPart("a")]),
        Message("user", [TextPart("q2")]),
    ]
    body = _body(ChatRequest(model="m", messages=messages))
    assert [item.get("type") for item in body["input"]] == ["message", "message", "message"]


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (8000, "medium"), (32000, "high")])
def test_thinking_budget_picks_an_effort(budget: int, effort: str) -> None:
    request = ChatRequest(
        model="m", messages=[Message("user", [TextPart("q")])], reasoning=Reasoning(budget_tokens=budget)
    )
    assert _body(request)["reasoning"] == {"effort": effort}


def test_response_format_variants() -> None:
    base = ChatRequest(model="m", messages=[Message("user", [TextPart("q")])])
    base.response_format = ResponseFormat("json_object")
    assert _body(base)["text"] == {"format": {"type": "json_object"}}
    base.response_format = ResponseFormat("json_schema", {"type": "object"}, name="answer", strict=False)
    assert _body(base)["text"] == {
        "format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": False}
    }


@pytest.mark.parametrize(
    ("request_", "features"),
    [
        (ChatRequest(model="m", messages=[Message("user", [TextPart("q")])], stop=["\n"]), ["stop"]),
        (
            ChatRequest(model="m", messages=[Message("tool", [ToolResult("c", [TextPart("boom")], is_error=True)])]),
            ["tool_result.is_error"],
        ),
        (ChatRequest(model="m", messages=[Message("assistant", [ImagePart("https://x/i.png")])]), ["assistant images"]),
        (
            ChatRequest(
                model="m",
                messages=[Message("user", [TextPart("q")])],
                extras={"top_k": 5, "thinking": {}},
                extras_format="anthropic",
            ),
            ["thinking", "top_k"],
        ),
    ],
)
def test_untranslatable_features_are_refused(request_: ChatRequest, features: list[str]) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        ADAPTER.build_request(request_, ENDPOINT)
    assert sorted(info.value.features) == features
    assert "openai-responses" in info.value.message


def test_tool_call_and_result_items_order() -> None:
    messages = [
        Message("user", [TextPart("q")]),
        Message("assistant", [TextPart("calling"), ToolCall("c1", "f", "{}")]),
        Message("tool", [ToolResult("c1", [TextPart("ok")], name="f")]),
    ]
    body = _body(ChatRequest(model="m", messages=messages))
    assert [(i["type"], i.get("role")) for i in body["input"]] == [
        ("message", "user"),
        ("message", "assistant"),
        ("function_call", None),
        ("function_call_output", None),
    ]


@pytest.mark.parametrize(("effort", "include"), [("xhigh", ["reasoning.encrypted_content"]), ("none", None)])
def test_encrypted_reasoning_is_requested_only_when_the_model_reasons(effort: str, include: list[str] | None) -> None:
    request = ResponsesCodec().decode_request({"model": "m", "input": "x", "reasoning": {"effort": effort}})
    body = _body(request)
    assert body["reasoning"] == {"effort": effort}
    assert body.get("include") == include


def test_the_classes_satisfy_the_provider_protocols() -> None:
    codec: ClientCodec = ResponsesCodec()  # checked by mypy
    adapter: UpstreamAdapter = ADAPTER
    encoder: StreamEncoder = codec.stream_encoder(ChatRequest(model="m", messages=[]))
    decoder: StreamDecoder = adapter.stream_decoder(ENDPOINT)
    assert (codec.format, adapter.format) == ("openai-responses", "openai-responses")
    assert encoder.encode(StreamStart("resp_1", "m", 1)).startswith(b"event: response.created\n")
    assert decoder.feed(b"") == []


def test_reasoning_settings_without_effort_or_summary_send_nothing() -> None:
    request = ChatRequest(
        model="m", messages=[Message("user", [TextPart("q")])], reasoning=Reasoning(include_thoughts=False)
    )
    body = _body(request)
    assert "reasoning" not in body and "include" not in body


def test_hints_are_forwarded_to_responses_prompt_cache_ones_to_chat() -> None:
    from providers.base import Endpoint
    from providers.openai.adapter import OpenAIChatAdapter

    request = ResponsesCodec().decode_request(
        {"model": "gpt-5", "input": "hi", "prompt_cache_key": "k", "safety_identifier": "u-1"}
    )
    assert _body(request)["prompt_cache_key"] == "k"
    chat = OpenAIChatAdapter().build_request(request, Endpoint("c", "openai", "http://x/v1", None, "m"))
    # chat completions has prompt_cache_key too; the abuse-monitoring id is left out
    assert orjson.loads(chat.body)["prompt_cache_key"] == "k" and b"safety_identifier" not in chat.body
