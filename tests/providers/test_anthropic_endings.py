"""Two recorded Anthropic endings translated for every other client format, whole and
streamed, read back with the clients' own SDK types where they have them:

* ``stop_reason: refusal`` (recorded, no content): chat ``finish_reason: content_filter``,
  Responses ``incomplete`` with reason ``content_filter``, Gemini ``SAFETY``;
* ``stop_reason: max_tokens`` in the middle of a tool call (recorded: the stream stops
  mid-JSON, with no ``content_block_stop``): every format's max-tokens finish and a stream
  whose every frame parses; Gemini leaves the half-written call out.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from engine.canonical import (
    ChatRequest,
    ChatResponse,
    Message,
    PartStart,
    PartStop,
    Refusal,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextPart,
    ToolArgsDelta,
    ToolCall,
    Usage,
)
from engine.exchange import Leg, TranslatedExchange
from engine.sse import SSEParser
from providers.base import Endpoint
from providers.registry import build_registry
from tests.providers.anthropic._anthropic_fixtures import MESSAGES, stream_bytes

REGISTRY = build_registry()
ENDPOINT = Endpoint("claude", "anthropic", "https://api.anthropic.com/v1", "k", "claude-x")
RESPONSES_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
REFUSALS = ["recorded-2026/anthropic-refusal.chunks.txt", "sdk-fixtures/refusal_response.sse"]
CUT = "sdk-fixtures/incomplete_partial_json_response.sse"


def _exchange(client: str, stream: bool) -> TranslatedExchange:
    request = ChatRequest(model="public", messages=[Message("user", [TextPart("hi")])], stream=stream)
    leg = Leg(ENDPOINT, REGISTRY.adapter("anthropic"), REGISTRY.codec(client), "public")
    return TranslatedExchange(leg, request)


def _whole(client: str, name: str) -> Any:
    body, _ = _exchange(client, False).finish(MESSAGES[name].read_bytes())
    return orjson.loads(body)


def _streamed(client: str, name: str) -> list[tuple[str | None, Any]]:
    """Every frame's (event, JSON) the client gets, fed one recorded byte chunk at a time."""
    relay = _exchange(client, True).relay()
    raw = stream_bytes(name)
    out = b"".join(relay.feed(raw[i : i + 64]) for i in range(0, len(raw), 64)) + relay.close()
    parser = SSEParser()
    frames = [(e.event, e.data) for e in parser.feed(out)]
    assert not parser.pending, "the stream ends inside a frame"
    return [(event, orjson.loads(data)) for event, data in frames if data != "[DONE]"]


# ---- refusal ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["anthropic-refusal.json", "anthropic-refusal-no-details.json"])
def test_a_whole_refusal(name: str) -> None:
    chat = ChatCompletion.model_validate(_whole("openai", name))
    assert chat.choices[0].finish_reason == "content_filter"
    response = Response.model_validate(_whole("openai-responses", name))
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "content_filter"
    gemini = _whole("gemini", name)
    assert gemini["candidates"][0]["finishReason"] == "SAFETY"
    assert _whole("anthropic", name)["stop_reason"] == "refusal"


@pytest.mark.parametrize("name", REFUSALS)
def test_a_streamed_refusal(name: str) -> None:
    chunks = [ChatCompletionChunk.model_validate(data) for _, data in _streamed("openai", name)]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"
    events = [RESPONSES_EVENT.validate_python(data) for _, data in _streamed("openai-responses", name)]
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.status == "incomplete" and last.response.incomplete_details.reason == "content_filter"
    assert "response.completed" not in [e.type for e in events]
    assert _streamed("gemini", name)[-1][1]["candidates"][0]["finishReason"] == "SAFETY"


def test_a_refusal_the_model_wrote_stays_a_completed_response() -> None:
    # OpenAI's own refusals are text in a refusal part: the response is complete
    response = ChatResponse("r1", "public", [Refusal("I can't help with that.")], "refusal", Usage(3, 4), 0)
    request = ChatRequest(model="public", messages=[Message("user", [TextPart("hi")])])
    body = orjson.loads(REGISTRY.codec("openai-responses").encode_response(response, request))
    assert (body["status"], body["incomplete_details"]) == ("completed", None)
    assert body["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]


# ---- a tool call cut by the output cap ----------------------------------------------------


def _recorded_cut() -> tuple[str, str]:
    text, arguments = "", ""
    parser = SSEParser()
    for event in parser.feed(stream_bytes(CUT) + b"\n\n"):
        payload = orjson.loads(event.data)
        if payload["type"] == "content_block_delta":
            text += payload["delta"].get("text", "")
            arguments += payload["delta"].get("partial_json", "")
    return text, arguments


def test_chat_clients_get_the_cut_arguments_and_length() -> None:
    text, arguments = _recorded_cut()
    chunks = [ChatCompletionChunk.model_validate(data) for _, data in _streamed("openai", CUT)]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == text
    assert "".join(t.function.arguments or "" for d in deltas for t in d.tool_calls or [] if t.function) == arguments
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_responses_clients_get_the_cut_arguments_and_an_incomplete_response() -> None:
    _, arguments = _recorded_cut()
    events = [RESPONSES_EVENT.validate_python(data) for _, data in _streamed("openai-responses", CUT)]
    last = events[-1]
    assert last.type == "response.incomplete" and last.response.incomplete_details.reason == "max_output_tokens"
    [call] = [item for item in last.response.output if item.type == "function_call"]
    assert call.arguments == arguments


def test_gemini_clients_get_the_text_and_max_tokens_without_the_half_written_call() -> None:
    text, _ = _recorded_cut()
    chunks = [data for _, data in _streamed("gemini", CUT)]
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(p.get("text", "") for p in parts) == text
    assert not any("functionCall" in p for p in parts)
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 124


def test_anthropic_clients_of_another_upstream_get_what_was_parsed_so_far() -> None:
    # a non-streamed answer whose arguments an output cap cut (as an OpenAI upstream sends it)
    _, arguments = _recorded_cut()
    cut = ChatResponse("r1", "public", [ToolCall("call_1", "make_file", arguments)], "length", Usage(3, 124), 0)
    request = ChatRequest(model="public", messages=[Message("user", [TextPart("hi")])])
    body = orjson.loads(REGISTRY.codec("anthropic").encode_response(cut, request))
    assert body["stop_reason"] == "max_tokens"
    assert body["content"][0]["input"] == {
        "filename": "taxes.txt",
        "lines_of_text": ["# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s", "", "## INTRODUCTION", ""],
    }
    gemini = orjson.loads(REGISTRY.codec("gemini").encode_response(cut, request))
    assert gemini["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert "content" not in gemini["candidates"][0]  # the half-written call left out


def test_arguments_that_are_no_object_outside_a_cut_end_a_gemini_stream_with_the_in_band_error() -> None:
    request = ChatRequest(model="public", messages=[Message("user", [TextPart("hi")])], stream=True)
    encoder = REGISTRY.codec("gemini").stream_encoder(request)
    events: list[StreamEvent] = [
        StreamStart("r1", "public", 0),
        PartStart(0, ToolCall("call_1", "f", "")),
        ToolArgsDelta(0, "[1, 2]"),
        PartStop(0),
        StreamEnd("tool_use", Usage(1, 1)),
    ]
    out = b"".join(encoder.encode(e) for e in events)
    [(_, last)] = [(e.event, orjson.loads(e.data)) for e in SSEParser().feed(out)]
    assert last["error"]["code"] == 502 and "not a JSON object" in last["error"]["message"]
