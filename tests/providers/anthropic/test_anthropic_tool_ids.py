"""Tool-use ids an Anthropic client sees: ``toolu_`` whoever issued them, unwrapped when
they come back, stateless and reversible; Anthropic's own ids untouched."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from engine.canonical import (
    ChatResponse,
    PartStart,
    PartStop,
    StreamEnd,
    StreamStart,
    TextPart,
    ToolCall,
    ToolResult,
    Usage,
)
from providers.anthropic import tool_ids
from providers.anthropic.codec import AnthropicCodec
from providers.base import Endpoint
from providers.gemini.adapter import GeminiAdapter
from providers.openai.adapter import OpenAIChatAdapter
from tests.providers.anthropic._anthropic_fixtures import sdk_message
from tests.providers.gemini.gemini_helpers import endpoint as gemini_endpoint
from tests.providers.gemini.gemini_helpers import fixture_bytes as gemini_fixture

OPENAI_STREAM = Path(__file__).resolve().parents[2] / "fixtures" / "openai" / "chat-stream" / "08-single-tool-call.sse"
ANTHROPIC_ALPHABET = re.compile(r"toolu_[A-Za-z0-9_-]*")
codec = AnthropicCodec()


@given(st.text())
def test_every_id_is_shown_as_toolu_and_read_back_as_it_was(call_id: str) -> None:
    shown = tool_ids.to_client(call_id)
    if call_id.startswith("toolu_"):  # already an Anthropic-style id: shown as it is
        assert shown == call_id
    else:
        assert ANTHROPIC_ALPHABET.fullmatch(shown), shown
        assert tool_ids.from_client(shown) == call_id


def test_the_ids_upstreams_issue() -> None:
    assert tool_ids.to_client("call_7ZkR2fQe9mVb1XcN3pLs8TuW") == "toolu_tr_call_7ZkR2fQe9mVb1XcN3pLs8TuW"
    assert tool_ids.to_client("fc_68b0/1") == "toolu_tr64_ZmNfNjhiMC8x"
    assert tool_ids.from_client("toolu_tr64_ZmNfNjhiMC8x") == "fc_68b0/1"
    assert tool_ids.to_client("") == "toolu_tr_" and tool_ids.from_client("toolu_tr_") == ""


def test_anthropic_ids_and_ids_a_client_made_up_stay_as_they_are() -> None:
    for anthropic_id in ("toolu_01A09q90qw90lq917835lq9", "toolu_bdrk_01X", "toolu_vrtx_01Y"):
        assert tool_ids.to_client(anthropic_id) == anthropic_id
        assert tool_ids.from_client(anthropic_id) == anthropic_id
    assert tool_ids.from_client("call_weather_paris") == "call_weather_paris"
    assert tool_ids.from_client("toolu_tr64_not base64!") == "toolu_tr64_not base64!"


def _response(*calls: ToolCall) -> ChatResponse:
    return ChatResponse("msg_1", "m", [TextPart("Checking."), *calls], "tool_use", Usage(10, 5), 0)


def test_a_recorded_openai_stream_reaches_the_sdk_with_toolu_ids() -> None:
    decoder = OpenAIChatAdapter().stream_decoder(Endpoint("oa", "openai", "https://api.openai.com/v1", "k", "gpt-4o"))
    request = codec.decode_request({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
    encoder = codec.stream_encoder(request)
    raw = OPENAI_STREAM.read_bytes()
    events = decoder.feed(raw) + decoder.close()
    issued = [e.part.id for e in events if isinstance(e, PartStart) and isinstance(e.part, ToolCall)]
    message = sdk_message(b"".join(encoder.encode(e) for e in events))
    [use] = [b for b in message.content if b.type == "tool_use"]
    assert issued and issued[0].startswith("call_")
    assert use.id == "toolu_tr_" + issued[0]


def test_a_recorded_gemini_call_goes_out_as_toolu_and_comes_back_with_its_signature() -> None:
    adapter = GeminiAdapter(clock=lambda: 0.0, new_id=lambda: "generated")
    recorded = gemini_fixture("google-tool-call.json")
    response = adapter.decode_response(recorded, gemini_endpoint())
    shown = orjson.loads(codec.encode_response(response, codec.decode_request(_body([]))))
    [use] = [b for b in shown["content"] if b["type"] == "tool_use"]
    assert ANTHROPIC_ALPHABET.fullmatch(use["id"])

    follow_up = codec.decode_request(
        _body(
            [
                {"role": "assistant", "content": [use]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "18°C"}]},
            ]
        )
    )
    [call] = [p for m in follow_up.messages for p in m.parts if isinstance(p, ToolCall)]
    [result] = [p for m in follow_up.messages for p in m.parts if isinstance(p, ToolResult)]
    assert call.id == result.call_id == next(p.id for p in response.parts if isinstance(p, ToolCall))
    upstream = orjson.loads(adapter.build_request(follow_up, gemini_endpoint()).body)
    sent = [p for c in upstream["contents"] for p in c["parts"] if "functionCall" in p]
    signature = orjson.loads(recorded)["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    assert [p.get("thoughtSignature") for p in sent] == [signature]


def _body(history: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "weather?"}, *history]}


def test_the_request_decoder_unwraps_ids_in_calls_and_results_alike() -> None:
    request = codec.decode_request(
        _body(
            [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_tr_call_a", "name": "f", "input": {}},
                        {"type": "tool_use", "id": "toolu_01Anthropic", "name": "g", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_tr_call_a", "content": "1"},
                        {"type": "tool_result", "tool_use_id": "toolu_01Anthropic", "content": "2"},
                    ],
                },
            ]
        )
    )
    parts = [p for m in request.messages for p in m.parts]
    assert [p.id for p in parts if isinstance(p, ToolCall)] == ["call_a", "toolu_01Anthropic"]
    results = [p for p in parts if isinstance(p, ToolResult)]
    assert [(r.call_id, r.name) for r in results] == [("call_a", "f"), ("toolu_01Anthropic", "g")]


def test_responses_and_streams_show_the_same_id() -> None:
    call = ToolCall("call_x", "f", '{"a":1}')
    whole = orjson.loads(codec.encode_response(_response(call), codec.decode_request(_body([]))))
    encoder = codec.stream_encoder(codec.decode_request(_body([])))
    frames = b"".join(
        encoder.encode(e)
        for e in (
            StreamStart("msg_1", "m", 0),
            PartStart(0, ToolCall("call_x", "f", "")),
            PartStop(0),
            StreamEnd("tool_use", Usage(1, 1)),
        )
    )
    streamed = [b.id for b in sdk_message(frames).content if b.type == "tool_use"]
    assert [b["id"] for b in whole["content"] if b["type"] == "tool_use"] == streamed == ["toolu_tr_call_x"]
