"""Function calling end to end through the Gemini codec and adapter: a real google-genai
chat session talks to codec -> canonical -> adapter -> a fake upstream replaying the
recordings, and back. The thought signature Gemini 3 requires must come back to the
upstream on the next turn, and the function response must carry the call's name."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from google.genai import types

from engine.canonical import ChatRequest, Message, TextPart, ToolCall, ToolResult
from providers.gemini import GeminiCodec
from tests.providers.gemini.gemini_helpers import (
    adapter,
    endpoint,
    fixture_bytes,
    sdk_client,
    sse_bytes,
)

RECORDED_SIGNATURE = (
    "EskgCsYgAb4+9vtF7/499YQS2bjZs3xcQI+iAl+ILn29nK1j0Kg6su7QsUUUk3nrAAfnS2w5WiVvlcCqu9fAebJ2cvfaEyBahEt5"
)
STREAMED_SIGNATURE_PREFIX = "EqUCCqICAb4+9vsh8Pd5"
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="weather",
            description="Weather for a location",
            parameters_json_schema={"type": "object", "properties": {"location": {"type": "string"}}},
        )
    ]
)


class Gateway:
    """Codec + adapter wired like the pipeline, with scripted upstream replies."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.upstream_bodies: list[dict[str, Any]] = []
        self.codec = GeminiCodec()
        self.adapter = adapter()

    def handle(self, request: httpx.Request) -> httpx.Response:
        model, _, method = request.url.path.rsplit("/", 1)[-1].partition(":")
        stream = method == "streamGenerateContent"
        canonical = self.codec.decode_request(orjson.loads(request.content), model=model, stream=stream)
        built = self.adapter.build_request(canonical, endpoint())
        assert built.headers["x-goog-api-key"] == "test-key-123"
        self.upstream_bodies.append(orjson.loads(built.body))
        reply = self.replies.pop(0)
        if not stream:
            resp = self.adapter.decode_response(fixture_bytes(reply), endpoint())
            return httpx.Response(200, content=self.codec.encode_response(resp, canonical))
        decoder = self.adapter.stream_decoder(endpoint())
        encoder = self.codec.stream_encoder(canonical)
        events = decoder.feed(sse_bytes(reply)) + decoder.close()
        body = b"".join(encoder.encode(e) for e in events)
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_chat_function_calling_keeps_the_signature(stream: bool) -> None:
    first = "google-tool-call.chunks.txt" if stream else "google-tool-call.json"
    second = "google-text.chunks.txt" if stream else "google-text.json"
    gateway = Gateway([first, second])
    chat = sdk_client(gateway.handle).chats.create(
        model="gemini-public", config=types.GenerateContentConfig(tools=[WEATHER])
    )

    def send(message: Any) -> list[types.GenerateContentResponse]:
        if stream:
            return list(chat.send_message_stream(message))
        return [chat.send_message(message)]

    turn1 = send("What is the weather in San Francisco?")
    calls = [fc for r in turn1 for fc in (r.function_calls or [])]
    assert [(c.name, c.args, c.id) for c in calls] == [("weather", {"location": "San Francisco"}, None)]

    turn2 = send(types.Part.from_function_response(name="weather", response={"forecast": "sunny"}))
    assert "strawberry" in "".join(r.text or "" for r in turn2)

    upstream = gateway.upstream_bodies[1]
    model_turn = upstream["contents"][1]
    assert model_turn["role"] == "model"
    call_part = model_turn["parts"][0]
    assert call_part["functionCall"] == {"name": "weather", "args": {"location": "San Francisco"}}
    if stream:
        assert call_part["thoughtSignature"].startswith(STREAMED_SIGNATURE_PREFIX)
    else:
        assert call_part["thoughtSignature"] == RECORDED_SIGNATURE
    assert upstream["contents"][2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "weather", "response": {"forecast": "sunny"}}}],
    }
    assert upstream["tools"][0]["functionDeclarations"][0]["name"] == "weather"


def test_other_client_formats_keep_the_signature_through_the_call_id() -> None:
    """An OpenAI/Anthropic client only echoes the call id and sends a result without a
    name; the next upstream request must still carry the signature and the name."""
    first = adapter().decode_response(fixture_bytes("google-tool-call.json"), endpoint())
    (call,) = first.parts
    assert isinstance(call, ToolCall)
    follow_up = ChatRequest(
        model="public",
        messages=[
            Message("user", [TextPart("Weather in SF?")]),
            Message("assistant", [ToolCall(call.id, call.name, call.arguments)]),
            Message("tool", [ToolResult(call.id, [TextPart('{"forecast": "sunny"}')])]),
        ],
    )
    body = orjson.loads(adapter().build_request(follow_up, endpoint()).body)
    assert body["contents"][1]["parts"] == [
        {
            "functionCall": {"name": "weather", "args": {"location": "San Francisco"}},
            "thoughtSignature": RECORDED_SIGNATURE,
        }
    ]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "weather", "response": {"forecast": "sunny"}}}
    ]
