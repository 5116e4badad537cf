"""Gemini same-format forwarding: the client's body reaches the upstream untouched (model
in the path, channel params merged), the upstream's answer comes back untouched except
``modelVersion``, and usage is metered on the way."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pytest
from google.genai import types

from engine.canonical import Usage
from engine.errors import UpstreamError
from engine.sse import SSEParser
from providers.base import Passthrough, PassthroughStream
from providers.gemini.passthrough import GeminiPassthrough, GeminiPassthroughStream
from providers.gemini.request_encoder import _apply_params
from tests.providers.gemini.gemini_helpers import (
    chunk_lines,
    endpoint,
    fixture_bytes,
    fixture_json,
    sdk_client,
    sse_bytes,
)

PASS = GeminiPassthrough()
BASE = "https://generativelanguage.googleapis.com/v1beta"
RECORDED_STREAMS = [
    "google-text.chunks.txt",
    "google-reasoning.chunks.txt",
    "google-reasoning-gemini3.chunks.txt",
    "google-tool-call.chunks.txt",
    "google-stream-tool-call-arguments.chunks.txt",
]


def rich_body() -> dict[str, Any]:
    """The constructed request plus fields the canonical model cannot carry."""
    body: dict[str, Any] = fixture_json("generateContent-request-constructed.json")
    body["contents"].append(
        {
            "role": "model",
            "parts": [
                {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
            ],
        }
    )
    body["tools"] += [{"googleSearch": {}}, {"codeExecution": {}}, {"urlContext": {}}]
    body["cachedContent"] = "cachedContents/abc"
    body["futureField"] = {"nested": [1, {"x": None}]}
    return body


def relay(raw: bytes, step: int = 7, model: str = "gemini-public") -> tuple[bytes, GeminiPassthroughStream]:
    stream = PASS.stream(model, client_wants_usage=False)
    out = b"".join(stream.feed(raw[i : i + step]) for i in range(0, len(raw), step))
    return out + stream.close(), stream


def frames(raw: bytes) -> list[Any]:
    return [orjson.loads(e.data) for e in SSEParser().feed(raw)]


def test_satisfies_the_protocols() -> None:
    passthrough: Passthrough = PASS
    stream: PassthroughStream = passthrough.stream("m", True)
    assert passthrough.format == "gemini" and stream.usage is None
    assert stream.error(UpstreamError("server", "boom")) is None  # the client codec writes Gemini's envelope


def test_build_forwards_every_client_field_untouched() -> None:
    body = rich_body()
    before = copy.deepcopy(body)
    ep = endpoint("gemini-3-pro-preview", headers={"x-channel": "a"})
    upstream = PASS.build(body, ep, False, {"x-goog-api-key": "client-key", "authorization": "Bearer client"})
    assert orjson.loads(upstream.body) == before
    assert body == before  # the client's parsed body is not mutated
    assert upstream.method == "POST"
    assert upstream.url == f"{BASE}/models/gemini-3-pro-preview:generateContent"
    assert dict(upstream.headers) == {
        "x-channel": "a",
        "content-type": "application/json",
        "x-goog-api-key": "test-key-123",
    }


def test_build_stream_uses_the_adapters_url_and_drops_a_body_model() -> None:
    upstream = PASS.build({"model": "gemini-public", "contents": []}, endpoint("tunedModels/my tune"), True, {})
    assert upstream.url == f"{BASE}/tunedModels/my%20tune:streamGenerateContent?alt=sse"
    assert orjson.loads(upstream.body) == {"contents": []}


def test_params_merge_as_the_translated_adapter_merges_them() -> None:
    body = rich_body()
    before = copy.deepcopy(body)
    params = {
        "temperature": 0.1,
        "thinkingConfig": {"thinkingBudget": 0},
        "responseModalities": ["TEXT"],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/channel",
    }
    sent = orjson.loads(PASS.build(body, endpoint(params=params), False, {}).body)
    expected = copy.deepcopy(before)
    _apply_params(expected, params)
    assert sent == expected
    assert sent["generationConfig"]["thinkingConfig"] == {"includeThoughts": False, "thinkingBudget": 0}
    assert sent["generationConfig"]["temperature"] == 0.1 and sent["generationConfig"]["topK"] == 40
    assert sent["safetySettings"] == params["safetySettings"] and sent["cachedContent"] == "cachedContents/channel"
    assert body == before


def test_params_land_under_the_spelling_the_client_used() -> None:
    body = {
        "contents": [],
        "generation_config": {"thinking_config": {"thinking_budget": 1024, "include_thoughts": True}},
    }
    params = {"thinkingConfig": {"thinkingBudget": 0}, "safety_settings": []}
    sent = orjson.loads(PASS.build(body, endpoint(params=params), False, {}).body)
    assert sent == {
        "contents": [],
        "generation_config": {"thinking_config": {"thinking_budget": 0, "include_thoughts": True}},
        "safety_settings": [],
    }
    assert body["generation_config"] == {"thinking_config": {"thinking_budget": 1024, "include_thoughts": True}}


@pytest.mark.parametrize(
    ("name", "usage"),
    [
        ("google-text.json", Usage(input_tokens=9, output_tokens=28 + 244, reasoning_tokens=244)),
        ("google-reasoning.json", Usage(input_tokens=9, output_tokens=29 + 282, reasoning_tokens=282)),
        ("google-tool-call.json", Usage(input_tokens=29, output_tokens=15 + 893, reasoning_tokens=893)),
    ],
)
def test_recorded_response_comes_back_identical_except_model_version(name: str, usage: Usage) -> None:
    raw = fixture_bytes(name)
    out, metered = PASS.rewrite_response(raw, "gemini-public")
    original = orjson.loads(raw)
    assert original["modelVersion"] != "gemini-public"
    assert orjson.loads(out) == {**original, "modelVersion": "gemini-public"}
    assert metered == usage


def test_response_fields_the_canonical_model_lacks_survive_with_cached_usage() -> None:
    data = orjson.loads(fixture_bytes("google-text.json"))
    del data["modelVersion"]
    candidate = data["candidates"][0]
    candidate["groundingMetadata"] = {
        "webSearchQueries": ["r in strawberry"],
        "groundingChunks": [{"web": {"uri": "u"}}],
    }
    candidate["citationMetadata"] = {"citationSources": [{"startIndex": 0, "endIndex": 5, "uri": "u"}]}
    candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
    data["usageMetadata"] |= {"cachedContentTokenCount": 4, "toolUsePromptTokenCount": 3}
    data["futureTopLevel"] = True
    out, usage = PASS.rewrite_response(orjson.dumps(data), "gemini-public")
    assert orjson.loads(out) == {**data, "modelVersion": "gemini-public"}  # set even when absent
    assert usage.input_tokens == 9 + 3 and usage.cached_input_tokens == 4


def test_response_without_usage_meters_zero() -> None:
    _, usage = PASS.rewrite_response(b'{"candidates": []}', "m")
    assert usage == Usage()


@pytest.mark.parametrize(
    ("raw", "failure"),
    [
        (b"<html>bad gateway</html>", "server"),
        (b"[1, 2]", "server"),
        (b'{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}', "rate_limit"),
        (b'{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}', "auth"),
        (b'{"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}', "server"),
    ],
)
def test_rewrite_response_errors(raw: bytes, failure: str) -> None:
    with pytest.raises(UpstreamError) as info:
        PASS.rewrite_response(raw, "m")
    assert info.value.failure == failure


@pytest.mark.parametrize("name", RECORDED_STREAMS)
def test_recorded_stream_in_small_pieces_is_relayed_chunk_for_chunk(name: str) -> None:
    out, stream = relay(sse_bytes(name), step=7)
    theirs = [orjson.loads(line) for line in chunk_lines(name)]
    ours = frames(out)
    assert ours == [{**chunk, "modelVersion": "gemini-public"} for chunk in theirs]
    assert out == b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in ours)  # our client framing
    assert stream.finished
    last = theirs[-1]["usageMetadata"]
    assert stream.usage is not None
    assert stream.usage.input_tokens == last["promptTokenCount"]
    assert stream.usage.output_tokens == last["candidatesTokenCount"] + last["thoughtsTokenCount"]


def test_recorded_stream_usage_is_the_last_reported() -> None:
    _, stream = relay(sse_bytes("google-reasoning.chunks.txt"), step=1)
    assert stream.usage == Usage(input_tokens=9, output_tokens=29 + 256, reasoning_tokens=256)


def test_usage_without_counts_does_not_meter() -> None:
    first = sse_bytes("google-stream-tool-call-arguments.chunks.txt").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    stream = PASS.stream("m", True)
    assert frames(stream.feed(first))[0]["usageMetadata"] == {"trafficType": "ON_DEMAND"}
    assert stream.usage is None and not stream.finished


def test_chunks_after_finish_reason_are_still_relayed_and_metered() -> None:
    chunks: list[dict[str, Any]] = [
        {"candidates": [{"content": {"parts": [{"text": "hi"}], "role": "model"}, "finishReason": "STOP", "index": 0}]},
        {
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6},
            "modelVersion": "x",
        },
    ]
    out, stream = relay(b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks))
    assert [c.get("usageMetadata") for c in frames(out)] == [None, chunks[1]["usageMetadata"]]
    assert stream.usage == Usage(input_tokens=5, output_tokens=1)


def test_blocked_prompt_ends_the_stream() -> None:
    body = (
        b'{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}'
    )
    out, stream = relay(b"data: " + body + b"\r\n\r\n")
    assert frames(out)[0]["promptFeedback"] == {"blockReason": "SAFETY"}
    assert stream.usage == Usage(input_tokens=5)


@pytest.mark.parametrize(
    ("error", "failure", "retry_after"),
    [
        ({"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}, "server", None),
        (orjson.loads(fixture_bytes("google-429-retry-info.json"))["error"], "rate_limit", 34.4),
        ({"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}, "bad_request", None),
    ],
)
def test_in_band_error_raises_classified(error: dict[str, Any], failure: str, retry_after: float | None) -> None:
    stream = PASS.stream("m", True)
    first = sse_bytes("google-text.chunks.txt").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert stream.feed(first)
    with pytest.raises(UpstreamError) as info:
        stream.feed(b"data: " + orjson.dumps({"error": error}) + b"\r\n\r\n")
    assert info.value.failure == failure and info.value.retry_after == retry_after


def test_stream_cut_before_finish_reason() -> None:
    lines = chunk_lines("google-tool-call.chunks.txt")[:-1]  # the trailing finishReason chunk is lost
    stream = PASS.stream("m", True)
    out = stream.feed(b"".join(b"data: " + line.encode() + b"\r\n\r\n" for line in lines))
    assert len(frames(out)) == len(lines) and not stream.finished
    with pytest.raises(UpstreamError) as info:
        stream.close()
    assert info.value.failure == "stream_cut"


def test_last_chunk_without_its_blank_line_is_relayed_at_close() -> None:
    raw = sse_bytes("google-tool-call.chunks.txt").removesuffix(b"\r\n\r\n")
    stream = PASS.stream("gemini-public", True)
    assert len(frames(stream.feed(raw))) == 1 and not stream.finished
    (last,) = frames(stream.close())
    assert last["candidates"][0]["finishReason"] == "STOP" and last["modelVersion"] == "gemini-public"
    assert stream.finished and stream.usage == Usage(input_tokens=29, output_tokens=15 + 45, reasoning_tokens=45)


def test_stream_cut_inside_a_chunk() -> None:
    raw = sse_bytes("google-tool-call.chunks.txt")
    stream = PASS.stream("m", True)
    stream.feed(raw[: len(raw) - 40])
    with pytest.raises(UpstreamError) as info:
        stream.close()
    assert info.value.failure == "stream_cut"


def test_non_json_chunk_and_partial_frames() -> None:
    stream = PASS.stream("m", True)
    assert stream.feed(b'data: {"candidates": [') == b""
    assert stream.feed(b"\r\n\r\n") == b""  # a whole event that is not JSON: skipped, counted
    assert stream.malformed_events == 1


def test_google_genai_sdk_sees_everything_through_the_gateway() -> None:
    sent: list[tuple[str, Any]] = []
    recorded = orjson.loads(fixture_bytes("google-text.json"))
    recorded["candidates"][0]["groundingMetadata"] = {"webSearchQueries": ["strawberry"]}

    def gateway(request: httpx.Request) -> httpx.Response:
        stream = request.url.path.endswith(":streamGenerateContent")
        upstream = PASS.build(orjson.loads(request.content), endpoint(), stream, dict(request.headers))
        sent.append((upstream.url, orjson.loads(upstream.body)))
        if stream:
            relayed, _ = relay(sse_bytes("google-reasoning.chunks.txt"), step=64)
            return httpx.Response(200, content=relayed, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, content=PASS.rewrite_response(orjson.dumps(recorded), "gemini-public")[0])

    config = types.GenerateContentConfig(
        tools=[types.Tool(google_search=types.GoogleSearch()), types.Tool(code_execution=types.ToolCodeExecution())],
        cached_content="cachedContents/abc",
    )
    client = sdk_client(gateway)
    answer = client.models.generate_content(model="gemini-public", contents="hi", config=config)
    assert answer.model_version == "gemini-public" and answer.text and "strawberry" in answer.text
    assert answer.candidates and answer.candidates[0].grounding_metadata is not None
    assert answer.candidates[0].grounding_metadata.web_search_queries == ["strawberry"]
    chunks = list(client.models.generate_content_stream(model="gemini-public", contents="hi", config=config))
    assert {c.model_version for c in chunks} == {"gemini-public"}
    assert "strawberry" in "".join(c.text or "" for c in chunks)
    assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.thoughts_token_count == 256
    (url, body), (stream_url, _) = sent
    assert url == f"{BASE}/models/gemini-3-pro-preview:generateContent"
    assert stream_url == f"{BASE}/models/gemini-3-pro-preview:streamGenerateContent?alt=sse"
    assert (
        body["tools"] == [{"googleSearch": {}}, {"codeExecution": {}}] and body["cachedContent"] == "cachedContents/abc"
    )
