"""Gemini client requests -> canonical ``ChatRequest``: the constructed example, requests
the official SDK really sends (camelCase and snake_case mixed), every mapped field, the
extras, and errors that name the offending field."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from google.genai import types
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    ChatRequest,
    ImagePart,
    Reasoning,
    ResponseFormat,
    TextPart,
    Thinking,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from engine.errors import BadRequest
from providers.gemini import GeminiCodec, call_ids
from tests.providers.gemini.gemini_helpers import fixture_json, sdk_client

codec = GeminiCodec()

OK_BODY = {
    "candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
}


def decode(body: Any, model: str = "gemini-2.5-flash", stream: bool = False) -> ChatRequest:
    return codec.decode_request(body, model=model, stream=stream)


def sdk_request(**kw: Any) -> tuple[str, dict[str, Any]]:
    """What google-genai sends for ``generate_content(**kw)``: (path, JSON body)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_BODY)

    sdk_client(handler).models.generate_content(**kw)
    return seen[0].url.path, json.loads(seen[0].content)


def constructed_example() -> dict[str, Any]:
    """The constructed request, its placeholder signature replaced by a real (recorded) one."""
    body: dict[str, Any] = fixture_json("generateContent-request-constructed.json")
    body["contents"][1]["parts"][0]["thoughtSignature"] = REAL_SIGNATURE
    return body


REAL_SIGNATURE = "EskgCsYgAb4+9vtF7/499YQS2bjZs3xcQI+iAl+ILn29nK1j0Kg6su7QsUUUk3nrAAfnS2w5WiVvlcCqu9fAebJ2cvfaEyBahEt5"


def test_constructed_example(snapshot: SnapshotAssertion) -> None:
    req = decode(constructed_example())
    assert req == snapshot
    assert req.extras_format == "gemini"
    assert set(req.extras) == {"safetySettings", "generationConfig.topK"}
    call = req.messages[1].parts[0]
    assert isinstance(call, ToolCall)
    result = req.messages[2].parts[0]
    assert isinstance(result, ToolResult) and result.call_id == call.id and result.name == "get_current_weather"
    assert call_ids.split(call.id).signature == REAL_SIGNATURE


def test_sdk_request_with_snake_case_fields(snapshot: SnapshotAssertion) -> None:
    path, body = sdk_request(
        model="gemini-2.5-flash",
        contents=[
            types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
            types.Content(
                role="model",
                parts=[
                    types.Part(
                        function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"}),
                        thought_signature=b"\x01\x02signature",
                    )
                ],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part(function_response=types.FunctionResponse(name="get_weather", response={"temp_c": 21}))
                ],
            ),
        ],
        config=types.GenerateContentConfig(
            system_instruction="Be brief.",
            temperature=0.2,
            top_p=0.9,
            max_output_tokens=256,
            stop_sequences=["END"],
            thinking_config=types.ThinkingConfig(thinking_budget=512, include_thoughts=True),
            tools=[
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name="get_weather",
                            description="Weather for a city",
                            parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
                        )
                    ]
                )
            ],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(
                    mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_weather"]
                )
            ),
        ),
    )
    assert path == "/v1beta/models/gemini-2.5-flash:generateContent"
    req = decode(body)
    assert req == snapshot
    assert req.tool_choice == ToolChoice("tool", "get_weather")
    assert req.reasoning == Reasoning(budget_tokens=512, include_thoughts=True)
    assert req.tools[0].parameters == {"type": "object", "properties": {"city": {"type": "string"}}}
    call = req.messages[1].parts[0]
    assert isinstance(call, ToolCall)
    assert call_ids.split(call.id).signature == "AQJzaWduYXR1cmU="  # base64 of the bytes
    assert not req.extras


def test_sdk_openapi_schema_response_format() -> None:
    _, body = sdk_request(
        model="m",
        contents="list two colours",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=types.Schema(
                type=types.Type.ARRAY, items=types.Schema(type=types.Type.STRING, nullable=True), max_items=2
            ),
        ),
    )
    req = decode(body)
    # the SDK sends {"type": "ARRAY", "items": {"nullable": true, "type": "STRING"}, "max_items": 2}
    assert body["generationConfig"]["responseSchema"]["max_items"] == 2
    assert req.response_format == ResponseFormat(
        "json_schema", schema={"type": "array", "items": {"type": ["string", "null"]}, "maxItems": 2}
    )


def test_path_and_stream_flag() -> None:
    req = codec.decode_request({"contents": [{"parts": [{"text": "hi"}]}]}, model="models/gemini-x", stream=True)
    assert req.model == "gemini-x" and req.stream and req.include_usage
    assert req.messages[0].role == "user"  # role may be omitted


def test_thought_parts_and_text_signatures() -> None:
    req = decode(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "q"}]},
                {
                    "role": "model",
                    "parts": [
                        {"text": "let me think", "thought": True, "thoughtSignature": "c2lnMQ=="},
                        {"text": "answer", "thoughtSignature": "c2lnMg=="},
                        {"text": "", "thoughtSignature": "c2lnMw=="},
                    ],
                },
            ]
        }
    )
    assert req.messages[1].parts == [
        Thinking("let me think", signature="c2lnMQ=="),
        TextPart("answer"),
        Thinking("", signature="c2lnMg=="),
        Thinking("", signature="c2lnMw=="),
    ]


def test_parallel_calls_pair_with_responses_by_name_and_order() -> None:
    req = decode(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "both"}]},
                {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "a", "args": {"n": 1}}},
                        {"functionCall": {"name": "b", "args": {}}},
                        {"functionCall": {"name": "a", "args": {"n": 2}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "a", "response": {"r": 1}}},
                        {"functionResponse": {"name": "b", "response": {"error": "boom"}}},
                        {"functionResponse": {"name": "a", "response": {"r": 2}}},
                        {"text": "and now?"},
                    ],
                },
            ]
        }
    )
    calls = req.messages[1].parts
    assert [c.id for c in calls if isinstance(c, ToolCall)] == ["call_0_a", "call_1_b", "call_2_a"]
    tool_msg, user_msg = req.messages[2], req.messages[3]
    assert tool_msg.role == "tool" and user_msg.role == "user"
    results = [p for p in tool_msg.parts if isinstance(p, ToolResult)]
    assert [(r.call_id, r.is_error) for r in results] == [("call_0_a", False), ("call_1_b", True), ("call_2_a", False)]
    assert results[0].content == [TextPart('{"r":1}')]


def test_wire_ids_pair_by_id() -> None:
    req = decode(
        {
            "contents": [
                {
                    "role": "model",
                    "parts": [{"functionCall": {"id": "x1", "name": "a"}}, {"functionCall": {"id": "x2", "name": "a"}}],
                },
                {"role": "user", "parts": [{"functionResponse": {"id": "x2", "name": "a", "response": {}}}]},
            ]
        }
    )
    (result,) = req.messages[1].parts
    assert isinstance(result, ToolResult) and result.call_id == "x2"


def test_images_inline_file_and_resolution() -> None:
    req = decode(
        {
            "contents": [
                {
                    "parts": [
                        {
                            "inlineData": {"mimeType": "image/png", "data": "AAAA"},
                            "mediaResolution": {"level": "MEDIA_RESOLUTION_LOW"},
                        },
                        {"file_data": {"file_uri": "gs://bucket/cat.jpg", "mime_type": "image/jpeg"}},
                    ]
                }
            ]
        }
    )
    assert req.messages[0].parts == [
        ImagePart("data:image/png;base64,AAAA", detail="low"),
        ImagePart("gs://bucket/cat.jpg"),
    ]


def test_tool_choice_modes() -> None:
    def choice(config: dict[str, Any]) -> tuple[ToolChoice | None, dict[str, Any]]:
        req = decode({"contents": [{"parts": [{"text": "x"}]}], "toolConfig": {"functionCallingConfig": config}})
        return req.tool_choice, req.extras

    assert choice({"mode": "AUTO"}) == (ToolChoice("auto"), {})
    assert choice({"mode": "NONE"}) == (ToolChoice("none"), {})
    assert choice({"mode": "ANY"}) == (ToolChoice("required"), {})
    many = {"mode": "ANY", "allowedFunctionNames": ["a", "b"]}
    assert choice(many) == (None, {"toolConfig.functionCallingConfig": many})
    assert choice({"mode": "VALIDATED"}) == (None, {"toolConfig.functionCallingConfig": {"mode": "VALIDATED"}})


def test_generation_fields_and_extras() -> None:
    req = decode(
        {
            "contents": [{"parts": [{"text": "x"}]}],
            "tools": [{"googleSearch": {}}, {"functionDeclarations": [{"name": "f", "behavior": "BLOCKING"}]}],
            "cachedContent": "cachedContents/abc",
            "generationConfig": {
                "candidateCount": 2,
                "seed": 7,
                "responseMimeType": "application/json",
                "thinkingConfig": {"thinkingLevel": "low", "thinkingBudget": -1},
            },
        }
    )
    assert req.response_format == ResponseFormat("json_object")
    assert req.reasoning == Reasoning(effort="low")
    assert req.tools[0].parameters == {"type": "object", "properties": {}}
    assert req.extras == {
        "tools.googleSearch": {},
        "functionDeclarations.f": {"behavior": "BLOCKING"},
        "cachedContent": "cachedContents/abc",
        "generationConfig.candidateCount": 2,
        "generationConfig.seed": 7,
    }


def test_text_plain_and_enum_mime_types() -> None:
    plain = decode({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseMimeType": "text/plain"}})
    assert plain.response_format == ResponseFormat("text")
    enum_schema = {"type": "STRING", "enum": ["a", "b"]}
    enum = decode(
        {
            "contents": [{"parts": [{"text": "x"}]}],
            "generationConfig": {"responseMimeType": "text/x.enum", "responseSchema": enum_schema},
        }
    )
    assert enum.response_format is None
    assert enum.extras == {
        "generationConfig.responseMimeType": "text/x.enum",
        "generationConfig.responseSchema": enum_schema,
    }


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "contents"),
        ({"contents": "hi"}, "contents"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": [{"parts": [{"text": 5}]}]}, "contents[0].parts[0].text"),
        ({"contents": [{"parts": [{"functionCall": {"args": {}}}]}]}, "contents[0].parts[0].functionCall.name"),
        ({"contents": [{"parts": [{"executableCode": {"code": "1"}}]}]}, "contents[0].parts[0].executableCode"),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf", "data": "AA"}}]}]},
            "contents[0].parts[0].inlineData.mimeType",
        ),
        (
            {"contents": [{"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "contents[0].parts[0].functionResponse.name",
        ),
        (
            {"contents": [{"parts": [{"functionCall": {"name": "f"}, "thoughtSignature": "not base64!"}]}]},
            "contents[0].parts[0].thoughtSignature",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": "lots"}},
            "generationConfig.maxOutputTokens",
        ),
        (
            {
                "contents": [{"parts": [{"text": "x"}]}],
                "generationConfig": {"thinkingConfig": {"thinkingLevel": "XHIGH"}},
            },
            "generationConfig.thinkingConfig.thinkingLevel",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseSchema": {"type": "STRING"}}},
            "generationConfig.responseSchema",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": {"parts": [{"inlineData": {}}]}},
            "systemInstruction.parts[0]",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"topP": 1, "top_p": 1}},
            "generationConfig.topP",
        ),
        (
            {"contents": [{"parts": [{"text": "x", "inlineData": {"mimeType": "image/png", "data": "AA"}}]}]},
            "contents[0].parts[0]",
        ),
        ({"contents": [{"parts": [{"functionCall": {"name": "f"}, "thought": True}]}]}, "contents[0].parts[0].thought"),
        (
            {
                "contents": [
                    {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
                    {"parts": [{"functionResponse": {"name": "f", "response": {}, "willContinue": True}}]},
                ]
            },
            "contents[1].parts[0].functionResponse.willContinue",
        ),
        ({"contents": [{"parts": [{"text": "x"}], "extra": 1}]}, "contents[0].extra"),
    ],
)
def test_malformed_requests_name_the_field(body: dict[str, Any], path: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode(body)
    assert info.value.param == path
    assert path in info.value.message


def test_body_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="invalid request: body: expected an object, got array"):
        decode([])
