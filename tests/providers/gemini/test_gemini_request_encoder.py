"""Canonical ``ChatRequest`` -> Gemini upstream request: URL and headers, the body
(snapshots, and each piece validated by google-genai's own strict types), tool names for
results, thought signatures sent back, extras, params, and refusals."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google.genai import types
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    ChatRequest,
    ImagePart,
    Message,
    Reasoning,
    ResponseFormat,
    TextPart,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from engine.errors import BadRequest, UnsupportedFeature
from providers.gemini import GeminiCodec, call_ids
from tests.providers.gemini.gemini_helpers import adapter, endpoint, fixture_json

WEATHER = Tool("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})


def body_of(request: ChatRequest, **endpoint_kw: Any) -> dict[str, Any]:
    built = adapter().build_request(request, endpoint(**endpoint_kw))
    body: dict[str, Any] = orjson.loads(built.body)
    return body


def validate_with_sdk(body: dict[str, Any]) -> None:
    """Each piece of the body must parse under the SDK's types (extra fields forbidden)."""
    for content in body["contents"]:
        types.Content.model_validate_json(orjson.dumps(content))
    if "systemInstruction" in body:
        types.Content.model_validate_json(orjson.dumps(body["systemInstruction"]))
    for tool in body.get("tools", []):
        types.Tool.model_validate_json(orjson.dumps(tool))
    if "toolConfig" in body:
        types.ToolConfig.model_validate_json(orjson.dumps(body["toolConfig"]))
    if "generationConfig" in body:
        types.GenerationConfig.model_validate_json(orjson.dumps(body["generationConfig"]))
    known = {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
    }
    assert set(body) <= known


def chat(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="public-model", messages=list(messages), **kw)


def openai_style_conversation() -> ChatRequest:
    """What an OpenAI chat client's history looks like once decoded (ids from OpenAI)."""
    return chat(
        Message(
            "user",
            [TextPart("Weather in Paris and Rome?"), ImagePart("data:image/png;base64,iVBORw0KGgo=", detail="high")],
        ),
        Message(
            "assistant",
            [
                TextPart("Checking."),
                ToolCall("call_abc", "get_weather", '{"city":"Paris"}'),
                ToolCall("call_def", "get_weather", '{"city":"Rome"}'),
            ],
        ),
        Message("tool", [ToolResult("call_abc", [TextPart('{"temp_c": 21}')])]),
        Message("tool", [ToolResult("call_def", [TextPart("sunny, 25C")])]),
        Message("tool", [ToolResult("call_def", [TextPart("timeout")], is_error=True)]),
        system=[TextPart("Be brief.")],
        tools=[WEATHER],
        tool_choice=ToolChoice("auto"),
        max_tokens=300,
        temperature=0.3,
        top_p=0.8,
        stop=["STOP!"],
        response_format=ResponseFormat("json_schema", schema={"type": "object"}, name="answer", strict=True),
        reasoning=Reasoning(effort="high", include_thoughts=True),
    )


def test_url_and_headers_keep_the_key_out_of_the_url() -> None:
    built = adapter().build_request(chat(Message("user", [TextPart("hi")])), endpoint(headers={"x-extra": "1"}))
    assert built.method == "POST"
    assert built.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-pro-preview:generateContent"
    assert built.headers["x-goog-api-key"] == "test-key-123"
    assert built.headers["x-extra"] == "1"
    assert "test-key-123" not in built.url and b"test-key-123" not in built.body
    streamed = adapter().build_request(
        chat(Message("user", [TextPart("hi")]), stream=True), endpoint(model="tunedModels/my-tune")
    )
    assert (
        streamed.url
        == "https://generativelanguage.googleapis.com/v1beta/tunedModels/my-tune:streamGenerateContent?alt=sse"
    )
    keyless = adapter().build_request(chat(Message("user", [TextPart("hi")])), endpoint(api_key=None))
    assert "x-goog-api-key" not in keyless.headers


def test_openai_style_conversation(snapshot: SnapshotAssertion) -> None:
    body = body_of(openai_style_conversation())
    validate_with_sdk(body)
    assert body == snapshot
    # all three results answer one model turn, so they form one user turn, named by lookup
    results = body["contents"][2]["parts"]
    assert [p["functionResponse"]["name"] for p in results] == ["get_weather"] * 3
    assert results[0]["functionResponse"]["response"] == {"temp_c": 21}
    assert results[1]["functionResponse"]["response"] == {"result": "sunny, 25C"}
    assert results[2]["functionResponse"]["response"] == {"error": "timeout"}
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "HIGH", "includeThoughts": True}
    assert body["generationConfig"]["mediaResolution"] == "MEDIA_RESOLUTION_HIGH"
    # the Gemini API rejects functionCall.id / functionResponse.id in requests
    assert body["contents"][1]["parts"][1] == {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    assert all("id" not in p["functionResponse"] for p in results)


def test_effort_becomes_a_budget_for_gemini_2_models() -> None:
    body = body_of(openai_style_conversation(), model="gemini-2.5-flash")
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 24576, "includeThoughts": True}
    budget = body_of(chat(Message("user", [TextPart("x")]), reasoning=Reasoning(effort="low", budget_tokens=0)))
    assert budget["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


def test_gemini_request_round_trips_through_canonical(snapshot: SnapshotAssertion) -> None:
    original = fixture_json("generateContent-request-constructed.json")
    signature = "EskgCsYgAb4+9vtF7/499YQS2bjZs3xcQI+iAl+ILn29nK1j0Kg6su7QsUUUk3nrAAfnS2w5WiVvlcCqu9fAebJ2cvfaEyBahEt5"
    original["contents"][1]["parts"][0]["thoughtSignature"] = signature
    request = GeminiCodec().decode_request(original, model="gemini-2.5-flash", stream=False)
    body = body_of(request)
    validate_with_sdk(body)
    assert body == snapshot
    assert body["contents"][1]["parts"][0] == {
        "functionCall": {"name": "get_current_weather", "args": {"location": "Boston, MA"}},
        "thoughtSignature": signature,
    }
    assert body["contents"][2] == original["contents"][2]
    assert body["safetySettings"] == original["safetySettings"]
    assert body["generationConfig"]["topK"] == 40


def test_recorded_signatures_are_sent_back_where_gemini_put_them() -> None:
    codec_req = chat(
        Message("user", [TextPart("q")]),
        Message(
            "assistant",
            [Thinking("plan", signature="c2lnQQ=="), TextPart("answer"), Thinking("", signature="c2lnQg==")],
        ),
        Message(
            "assistant",
            [
                Thinking("", signature="c2lnQw=="),
                ToolCall(call_ids.attach_signature("call_x9_0_f", "c2lnRA=="), "f", "{}"),
            ],
        ),
        Message(
            "tool", [ToolResult(call_ids.attach_signature("call_x9_0_f", "c2lnRA=="), [TextPart("[1, 2]")], name="f")]
        ),
    )
    body = body_of(codec_req)
    validate_with_sdk(body)
    assert body["contents"][1]["parts"] == [
        {"text": "plan", "thought": True, "thoughtSignature": "c2lnQQ=="},
        {"text": "answer", "thoughtSignature": "c2lnQg=="},
        {"text": "", "thoughtSignature": "c2lnQw=="},
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2lnRA=="},
    ]
    assert body["contents"][2]["parts"] == [{"functionResponse": {"name": "f", "response": {"result": [1, 2]}}}]


def test_strict_tools_validate_and_named_choice() -> None:
    strict = Tool("f", None, {"type": "object"}, strict=True)
    auto = body_of(chat(Message("user", [TextPart("x")]), tools=[strict]))
    assert auto["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    assert auto["tools"] == [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object"}}]}]
    named = body_of(chat(Message("user", [TextPart("x")]), tools=[strict], tool_choice=ToolChoice("tool", "f")))
    assert named["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}
    for mode, wire in (("none", "NONE"), ("required", "ANY")):
        got = body_of(chat(Message("user", [TextPart("x")]), tools=[WEATHER], tool_choice=ToolChoice(mode)))  # type: ignore[arg-type]
        assert got["toolConfig"] == {"functionCallingConfig": {"mode": wire}}


def test_images_by_uri() -> None:
    body = body_of(
        chat(
            Message(
                "user",
                [
                    ImagePart("gs://bucket/a.png"),
                    ImagePart("https://generativelanguage.googleapis.com/v1beta/files/xyz"),
                ],
            )
        )
    )
    assert body["contents"][0]["parts"] == [
        {"fileData": {"fileUri": "gs://bucket/a.png", "mimeType": "image/png"}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/xyz"}},
    ]


def test_tool_result_images_ride_in_function_response_parts() -> None:
    body = body_of(
        chat(
            Message("assistant", [ToolCall("c1", "shot", "{}")]),
            Message("tool", [ToolResult("c1", [TextPart("{}"), ImagePart("data:image/jpeg;base64,/9j/")])]),
        )
    )
    validate_with_sdk(body)
    assert body["contents"][1]["parts"][0]["functionResponse"] == {
        "name": "shot",
        "response": {},
        "parts": [{"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}}],
    }


def test_gemini_extras_and_params() -> None:
    request = chat(
        Message("user", [TextPart("x")]),
        tools=[WEATHER],
        extras={
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "generationConfig.topK": 5,
            "generationConfig.thinkingConfig": {"thinkingLevel": "LOW"},
            "tools.googleSearch": {},
            "toolConfig.retrievalConfig": {"languageCode": "fr"},
            "functionDeclarations.get_weather": {"behavior": "BLOCKING"},
        },
        extras_format="gemini",
        temperature=0.9,
    )
    body = body_of(
        request,
        params={"temperature": 0.1, "thinkingConfig": {"includeThoughts": False}, "cachedContent": "cachedContents/c"},
    )
    validate_with_sdk(body)
    assert body["generationConfig"] == {
        "temperature": 0.1,
        "topK": 5,
        "thinkingConfig": {"thinkingLevel": "LOW", "includeThoughts": False},
    }
    assert body["tools"][1] == {"googleSearch": {}}
    assert body["tools"][0]["functionDeclarations"][0]["behavior"] == "BLOCKING"
    assert body["toolConfig"] == {"retrievalConfig": {"languageCode": "fr"}}
    assert body["safetySettings"][0]["threshold"] == "BLOCK_NONE"
    assert body["cachedContent"] == "cachedContents/c"


def test_extras_that_contradict_standard_fields_are_refused() -> None:
    request = chat(
        Message("user", [TextPart("x")]),
        temperature=0.5,
        extras={"generationConfig.temperature": 0.7},
        extras_format="gemini",
    )
    with pytest.raises(BadRequest, match="generationConfig.temperature"):
        body_of(request)


@pytest.mark.parametrize(
    ("request_", "features"),
    [
        (chat(Message("user", [ImagePart("https://example.com/cat.png")])), ["image_url (remote)"]),
        (
            chat(Message("user", [TextPart("x")]), extras={"logit_bias": {"1": 2}}, extras_format="openai"),
            ["logit_bias"],
        ),
        (
            chat(
                Message("user", [TextPart("x")]), extras={"generationConfig.candidateCount": 3}, extras_format="gemini"
            ),
            ["generationConfig.candidateCount"],
        ),
        (
            chat(Message("user", [TextPart("x")]), parallel_tool_calls=False, metadata={"a": "b"}),
            ["parallel_tool_calls=false"],
        ),
        (chat(Message("assistant", [Thinking("", redacted="opaque")])), ["redacted thinking"]),
        (
            chat(
                Message(
                    "user",
                    [
                        ImagePart("data:image/png;base64,AA", detail="low"),
                        ImagePart("data:image/png;base64,AA", detail="high"),
                    ],
                )
            ),
            ["image detail (different per image)"],
        ),
    ],
)
def test_unsupported_features_are_refused_by_name(request_: ChatRequest, features: list[str]) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        body_of(request_)
    assert sorted(info.value.features) == sorted(features)
    assert info.value.status == 400


def test_result_for_an_unknown_call_needs_a_name() -> None:
    with pytest.raises(BadRequest, match="needs the tool's name"):
        body_of(chat(Message("tool", [ToolResult("nowhere", [TextPart("1")])])))


def test_arguments_must_be_a_json_object() -> None:
    with pytest.raises(BadRequest, match="not a JSON object"):
        body_of(chat(Message("assistant", [ToolCall("c", "f", "[1]")])))


def test_caller_bookkeeping_is_not_sent_and_not_refused() -> None:
    body = body_of(chat(Message("user", [TextPart("x")]), metadata={"team": "a"}, user="end-user-7"))
    assert "metadata" not in body and "user" not in str(body.get("labels", ""))
