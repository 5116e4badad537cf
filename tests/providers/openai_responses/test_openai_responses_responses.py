"""Non-streamed answers: upstream ``Response`` JSON -> canonical, canonical -> client
``Response`` JSON (validated with the SDK's ``Response`` model)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.responses import Response
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    ChatRequest,
    ChatResponse,
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
    Usage,
)
from engine.errors import GatewayError, UpstreamError
from providers.base import Endpoint
from providers.openai_responses.adapter import ResponsesAdapter
from providers.openai_responses.codec import ResponsesCodec
from providers.openai_responses.wire import REDACTED_PREFIX
from tests.providers.openai_responses.recordings import load_bytes, load_json

ADAPTER = ResponsesAdapter()
CODEC = ResponsesCodec()
ENDPOINT = Endpoint("c", "openai-responses", "https://api.openai.com/v1", "sk-x", "gpt-5")
REQUEST = ChatRequest(model="gpt-5", messages=[Message("user", [TextPart("hi")])])


def _client_json(response: ChatResponse, request: ChatRequest = REQUEST) -> dict[str, Any]:
    body = orjson.loads(CODEC.encode_response(response, request))
    Response.model_validate(body)
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("name", ["openai-reasoning-encrypted-content.1.json", "openai-phase.1.json"])
def test_recorded_response_decodes(name: str, snapshot: SnapshotAssertion) -> None:
    response = ADAPTER.decode_response(load_bytes(name), ENDPOINT)
    assert response == snapshot


def test_recorded_reasoning_response_maps_usage_and_parts() -> None:
    data = load_json("openai-reasoning-encrypted-content.1.json")
    response = ADAPTER.decode_response(load_bytes("openai-reasoning-encrypted-content.1.json"), ENDPOINT)
    thinking, text = response.parts
    assert isinstance(thinking, Thinking) and thinking.signature == data["output"][0]["encrypted_content"]
    assert isinstance(text, TextPart) and text.text.endswith("Final result: 570")
    assert response.usage == Usage(input_tokens=865, output_tokens=163, reasoning_tokens=128)
    assert (response.stop_reason, response.created) == ("end", 1765591383)


@pytest.mark.parametrize("name", ["openai-reasoning-encrypted-content.1.json", "openai-phase.1.json"])
def test_recorded_response_round_trips_through_the_client_format(name: str) -> None:
    decoded = ADAPTER.decode_response(load_bytes(name), ENDPOINT)
    encoded = CODEC.encode_response(decoded, REQUEST)
    Response.model_validate_json(encoded)
    assert ADAPTER.decode_response(encoded, ENDPOINT) == decoded


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("openai-custom-tool.1.json", "custom_tool_call"),
        ("openai-image-generation-tool.1.json", "image_generation_call"),
    ],
)
def test_untranslatable_output_items_fail_the_attempt(name: str, needle: str) -> None:
    with pytest.raises(UpstreamError) as info:
        ADAPTER.decode_response(load_bytes(name), ENDPOINT)
    assert info.value.failure == "bad_request" and needle in info.value.message


def test_failed_and_unfinished_and_malformed_responses() -> None:
    failed = {"id": "resp_1", "model": "m", "status": "failed", "error": {"code": "server_error", "message": "oops"}}
    with pytest.raises(UpstreamError) as info:
        ADAPTER.decode_response(orjson.dumps(failed), ENDPOINT)
    assert info.value.failure == "server" and "oops" in info.value.message
    queued = {"id": "resp_1", "model": "m", "status": "queued", "output": []}
    with pytest.raises(UpstreamError) as info:
        ADAPTER.decode_response(orjson.dumps(queued), ENDPOINT)
    assert info.value.failure == "bad_request"
    with pytest.raises(UpstreamError) as info:
        ADAPTER.decode_response(b"<html>bad gateway</html>", ENDPOINT)
    assert info.value.failure == "server"


def test_incomplete_and_tool_use_stop_reasons() -> None:
    incomplete = {
        "id": "r",
        "model": "m",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [],
    }
    assert ADAPTER.decode_response(orjson.dumps(incomplete), ENDPOINT).stop_reason == "length"
    filtered = {**incomplete, "incomplete_details": {"reason": "content_filter"}}
    assert ADAPTER.decode_response(orjson.dumps(filtered), ENDPOINT).stop_reason == "content_filter"
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "c1",
        "name": "f",
        "arguments": "{}",
        "status": "completed",
    }
    tool = {"id": "r", "model": "m", "status": "completed", "output": [call]}
    decoded = ADAPTER.decode_response(orjson.dumps(tool), ENDPOINT)
    assert (decoded.stop_reason, decoded.parts) == ("tool_use", [ToolCall("c1", "f", "{}")])


# ---- client side ---------------------------------------------------------------------


def test_client_response_with_every_part_kind(snapshot: SnapshotAssertion) -> None:
    request = ChatRequest(
        model="alias",
        messages=[Message("user", [TextPart("hi")])],
        system=[TextPart("sys")],
        tools=[Tool("f", "does f", {"type": "object"}, strict=False)],
        tool_choice=ToolChoice("tool", "f"),
        temperature=0.3,
        max_tokens=99,
        response_format=ResponseFormat("json_object"),
        reasoning=Reasoning(effort="low", include_thoughts=True),
        extras={"tools": [{"type": "web_search"}], "previous_response_id": "resp_prev"},
        extras_format="openai-responses",
    )
    response = ChatResponse(
        id="msg_01Anthropic",
        model="claude-x",
        parts=[
            Thinking("hmm", signature="sig"),
            TextPart("Calling f."),
            ToolCall("toolu_1", "f", '{"a":1}'),
            Refusal("not that"),
        ],
        stop_reason="tool_use",
        usage=Usage(
            input_tokens=100, output_tokens=20, cached_input_tokens=60, cache_write_tokens=10, reasoning_tokens=5
        ),
        created=1700000000,
    )
    body = _client_json(response, request)
    assert body["id"] == "resp_msg_01Anthropic"
    assert [i["id"] for i in body["output"]] == [
        "rs_msg_01Anthropic_0",
        "msg_msg_01Anthropic_1",
        "fc_msg_01Anthropic_2",
        "msg_msg_01Anthropic_3",
    ]
    assert body["usage"]["total_tokens"] == 120
    assert body["store"] is False
    assert body == snapshot


def test_length_stop_is_incomplete() -> None:
    response = ChatResponse("resp_1", "m", [TextPart("trunc")], "length", Usage(1, 1), 1)
    body = _client_json(response)
    assert (body["status"], body["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})


def test_redacted_thinking_reaches_the_client_as_prefixed_encrypted_content() -> None:
    response = ChatResponse("r", "m", [Thinking("", redacted="blob"), TextPart("ok")], "end", Usage(), 1)
    body = _client_json(response)
    assert body["output"][0] == {
        "id": "rs_r_0",
        "type": "reasoning",
        "summary": [],
        "encrypted_content": REDACTED_PREFIX + "blob",
    }


def test_image_output_cannot_be_carried() -> None:
    response = ChatResponse("r", "m", [ImagePart("data:image/png;base64,AA")], "end", Usage(), 1)
    with pytest.raises(GatewayError) as info:
        CODEC.encode_response(response, REQUEST)
    assert info.value.status == 502 and "ImagePart" in info.value.message
