"""Stream decoding cases the recordings do not show: Gemini 2.5 thought summaries,
length stops, trailing chunks, and malformed streams."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.canonical import (
    PartStart,
    PartStop,
    SignatureDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    TextPart,
    Thinking,
    ThinkingDelta,
    Usage,
)
from engine.errors import UpstreamError
from tests.providers.gemini.gemini_helpers import CLOCK, decode_stream


def sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks)


def chunk(*parts: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [cand], "modelVersion": "gemini-2.5-flash", "responseId": "r-1"}
    if usage:
        out["usageMetadata"] = usage
    return out


def test_thought_summaries_then_text_then_length() -> None:
    events = decode_stream(
        sse(
            chunk({"text": "Considering", "thought": True}),
            chunk({"text": " options", "thought": True}),
            chunk({"text": "Answer", "thoughtSignature": "c2ln"}),
            chunk(
                {"text": " cut"},
                finish="MAX_TOKENS",
                usage={
                    "promptTokenCount": 3,
                    "candidatesTokenCount": 2,
                    "thoughtsTokenCount": 4,
                    "cachedContentTokenCount": 1,
                },
            ),
        )
    )
    assert events == [
        StreamStart("r-1", "gemini-2.5-flash", int(CLOCK)),
        PartStart(0, Thinking("")),
        ThinkingDelta(0, "Considering"),
        ThinkingDelta(0, " options"),
        PartStop(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "Answer"),
        PartStop(1),
        PartStart(2, Thinking("")),
        SignatureDelta(2, "c2ln"),
        PartStop(2),
        PartStart(3, TextPart("")),
        TextDelta(3, " cut"),
        PartStop(3),
        StreamEnd("length", Usage(input_tokens=3, output_tokens=6, cached_input_tokens=1, reasoning_tokens=4)),
    ]


def test_signature_on_a_thought_part_stays_on_it() -> None:
    events = decode_stream(sse(chunk({"text": "hm", "thought": True, "thoughtSignature": "c2ln"}, finish="STOP")))
    assert events[1:5] == [PartStart(0, Thinking("")), ThinkingDelta(0, "hm"), SignatureDelta(0, "c2ln"), PartStop(0)]


def test_chunks_after_finish_are_ignored_and_usage_only_chunks_count() -> None:
    events = decode_stream(
        sse(
            chunk({"text": "a"}, finish="STOP"),
            {"usageMetadata": {"promptTokenCount": 9}},
            chunk({"text": "late"}),
        )
    )
    assert [type(e).__name__ for e in events] == ["StreamStart", "PartStart", "TextDelta", "PartStop", "StreamEnd"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (
            sse(chunk({"inlineData": {"mimeType": "image/png", "data": "AA"}}, finish="STOP")),
            "only text and function calls",
        ),
        (sse(chunk({"functionCall": {"name": "f", "willContinue": True}}, finish="STOP")), "inside a function call"),
        (sse(chunk({"functionCall": {"name": "f", "willContinue": True}}), chunk({"text": "x"})), "interrupted"),
        (sse(chunk({"functionCall": {"willContinue": False}})), "functionCall.name"),
        (sse(chunk({"executableCode": {"code": "1"}})), "executableCode"),
        (sse({"candidates": [{"index": 1, "content": {"parts": [{"text": "x"}]}}]}), "only one candidate"),
    ],
)
def test_malformed_streams_fail_as_server_errors(data: bytes, needle: str) -> None:
    with pytest.raises(UpstreamError) as info:
        decode_stream(data)
    assert info.value.failure == "server"
    assert needle in info.value.message
