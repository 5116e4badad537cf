"""Canonical responses and streams -> what a Gemini client receives, checked with the
official SDK: bodies validated by ``GenerateContentResponse`` (extra fields forbidden),
and streams / model lists read by a real ``google.genai.Client`` over an in-process
transport."""

from __future__ import annotations

import httpx
import orjson
import pytest
from google.genai import types
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    PartStart,
    PartStop,
    Refusal,
    SignatureDelta,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    Usage,
)
from engine.errors import RateLimited
from engine.sse import SSEParser
from providers.gemini import GeminiCodec, call_ids
from providers.gemini.models_list import (
    GeminiModelInfo,
    encode_count_tokens,
    encode_models_list,
)
from tests.providers.gemini.gemini_helpers import (
    adapter,
    decode_stream,
    endpoint,
    fixture_bytes,
    sdk_client,
    sse_bytes,
)

codec = GeminiCodec()
REQUEST = ChatRequest(
    model="gemini-public", messages=[Message("user", [TextPart("hi")])], stream=True, include_usage=True
)
SIG = call_ids.attach_signature("call_r1_0_get_weather", "c2lnbmF0dXJl")
USAGE = Usage(input_tokens=10, output_tokens=30, cached_input_tokens=4, reasoning_tokens=20)


def response(*parts: object, stop: str = "end") -> ChatResponse:
    return ChatResponse(id="resp-1", model="gemini-public", parts=list(parts), stop_reason=stop, usage=USAGE, created=1)  # type: ignore[arg-type]


def sdk_parse(body: bytes) -> types.GenerateContentResponse:
    return types.GenerateContentResponse.model_validate_json(body)


def test_text_thinking_and_call_response(snapshot: SnapshotAssertion) -> None:
    resp = response(
        Thinking("pondering", signature="dGhvdWdodA=="),
        TextPart("Let me check."),
        Thinking("", signature="dGV4dHNpZw=="),
        ToolCall(SIG, "get_weather", '{"city": "Paris"}'),
        ToolCall("toolu_01", "get_time", ""),
        stop="tool_use",
    )
    body = codec.encode_response(resp, REQUEST)
    assert orjson.loads(body) == snapshot
    parsed = sdk_parse(body)
    assert parsed.candidates and parsed.candidates[0].content and parsed.candidates[0].content.parts
    parts = parsed.candidates[0].content.parts
    assert parts[0].thought is True and parts[0].thought_signature == b"thought"
    assert parts[1].text == "Let me check." and parts[1].thought_signature == b"textsig"
    assert parts[2].function_call and parts[2].function_call.id is None  # synthesised ids stay off the wire
    assert parts[2].function_call.args == {"city": "Paris"} and parts[2].thought_signature == b"signature"
    assert parts[3].function_call and parts[3].function_call.id == "toolu_01" and parts[3].function_call.args == {}
    assert parsed.candidates[0].finish_reason == types.FinishReason.STOP
    assert parsed.usage_metadata and parsed.usage_metadata.candidates_token_count == 10
    assert parsed.usage_metadata.thoughts_token_count == 20 and parsed.usage_metadata.total_token_count == 40


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end", "STOP"),
        ("tool_use", "STOP"),
        ("stop_sequence", "STOP"),
        ("length", "MAX_TOKENS"),
        ("content_filter", "SAFETY"),
        ("refusal", "SAFETY"),
    ],
)
def test_finish_reasons(stop: str, finish: str) -> None:
    parsed = sdk_parse(codec.encode_response(response(TextPart("x"), stop=stop), REQUEST))
    assert parsed.candidates and parsed.candidates[0].finish_reason == finish


def test_refusal_is_text_and_images_render() -> None:
    body = codec.encode_response(
        response(
            Refusal("I can't help with that."),
            ImagePart("data:image/png;base64,iVBORw0KGgo="),
            ImagePart("https://x.test/a.png"),
            stop="refusal",
        ),
        REQUEST,
    )
    parts = orjson.loads(body)["candidates"][0]["content"]["parts"]
    assert parts == [
        {"text": "I can't help with that."},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"fileUri": "https://x.test/a.png"}},
    ]
    sdk_parse(body)


def test_empty_filtered_response_has_no_content() -> None:
    body = orjson.loads(codec.encode_response(response(stop="content_filter"), REQUEST))
    assert body["candidates"] == [{"finishReason": "SAFETY", "index": 0}]


def encode_stream(events: list[StreamEvent]) -> bytes:
    encoder = codec.stream_encoder(REQUEST)
    return b"".join(encoder.encode(e) for e in events)


def frames(data: bytes) -> list[dict[str, object]]:
    return [orjson.loads(e.data) for e in SSEParser().feed(data)]


STREAM: list[StreamEvent] = [
    StreamStart("resp-9", "gemini-public", 1),
    PartStart(0, Thinking("")),
    ThinkingDelta(0, "hmm"),
    SignatureDelta(0, "dGhvdWdodA=="),
    PartStop(0),
    PartStart(1, TextPart("")),
    TextDelta(1, "Hello"),
    TextDelta(1, " world"),
    PartStop(1),
    PartStart(2, ToolCall(SIG, "get_weather", "")),
    ToolArgsDelta(2, '{"city":'),
    ToolArgsDelta(2, '"Paris"}'),
    PartStop(2),
    StreamEnd("tool_use", USAGE),
]


def test_stream_frames(snapshot: SnapshotAssertion) -> None:
    data = encode_stream(STREAM)
    assert data.count(b"data: ") == 6 and data.endswith(b"\n\n")
    chunks = frames(data)
    assert chunks == snapshot
    for chunk in chunks:
        sdk_parse(orjson.dumps(chunk))


def test_sdk_reads_our_stream_and_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(":streamGenerateContent"):
            assert request.url.params["alt"] == "sse"
            return httpx.Response(200, content=encode_stream(STREAM), headers={"content-type": "text/event-stream"})
        return httpx.Response(200, content=codec.encode_response(response(TextPart("plain")), REQUEST))

    client = sdk_client(handler)
    chunks = list(client.models.generate_content_stream(model="gemini-public", contents="hi"))
    assert (
        "".join(c.text or "" for c in chunks if c.candidates and c.candidates[0].content and not _is_thought(c))
        == "Hello world"
    )
    calls = [fc for c in chunks for fc in (c.function_calls or [])]
    assert [(fc.name, fc.args) for fc in calls] == [("get_weather", {"city": "Paris"})]
    last = chunks[-1]
    assert last.usage_metadata and last.usage_metadata.prompt_token_count == 10
    assert client.models.generate_content(model="gemini-public", contents="hi").text == "plain"


def _is_thought(chunk: types.GenerateContentResponse) -> bool:
    content = chunk.candidates[0].content if chunk.candidates else None
    return bool(content and content.parts and content.parts[0].thought)


def test_recorded_stream_re_encodes_for_gemini_clients() -> None:
    """Upstream Gemini -> canonical -> Gemini client keeps text, calls and signatures."""
    events = decode_stream(sse_bytes("google-tool-call.chunks.txt"))
    chunks = frames(encode_stream(events))
    call_part = chunks[0]["candidates"][0]["content"]["parts"][0]  # type: ignore[index]
    recorded = orjson.loads(sse_bytes("google-tool-call.chunks.txt").split(b"\r\n")[0][6:])
    assert call_part == recorded["candidates"][0]["content"]["parts"][0]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"  # type: ignore[index]


def test_recorded_response_re_encodes_identically_where_it_matters() -> None:
    for name in ("google-text.json", "google-tool-call.json"):
        recorded = orjson.loads(fixture_bytes(name))
        canonical = adapter().decode_response(fixture_bytes(name), endpoint())
        ours = orjson.loads(codec.encode_response(canonical, REQUEST))
        assert ours["candidates"][0]["content"] == recorded["candidates"][0]["content"]
        assert ours["usageMetadata"]["totalTokenCount"] == recorded["usageMetadata"]["totalTokenCount"]
        assert ours["responseId"] == recorded["responseId"]


def test_stream_error_is_in_band_and_final() -> None:
    encoder = codec.stream_encoder(REQUEST)
    encoder.encode(StreamStart("r", "m", 1))
    data = encoder.error(RateLimited("slow down", headers={"Retry-After": "3"}))
    (chunk,) = frames(data)
    assert chunk == {
        "error": {
            "code": 429,
            "message": "slow down",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}],
        }
    }


def test_models_list_and_count_tokens_through_the_sdk() -> None:
    items = [
        GeminiModelInfo(
            "gemini-fast", "Gemini Fast", context_window=1_048_576, max_output_tokens=65_536, thinking=True
        ),
        GeminiModelInfo("router-cheap"),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1beta/models":
            return httpx.Response(200, content=encode_models_list(items))
        assert request.url.path == "/v1beta/models/gemini-fast:countTokens"
        return httpx.Response(200, content=encode_count_tokens(42))

    client = sdk_client(handler)
    listed = list(client.models.list())
    assert [m.name for m in listed] == ["models/gemini-fast", "models/router-cheap"]
    assert listed[0].display_name == "Gemini Fast" and listed[0].input_token_limit == 1_048_576
    assert listed[0].output_token_limit == 65_536 and listed[0].thinking is True
    assert listed[0].supported_actions == ["generateContent", "streamGenerateContent", "countTokens"]
    assert client.models.count_tokens(model="gemini-fast", contents="hello").total_tokens == 42
