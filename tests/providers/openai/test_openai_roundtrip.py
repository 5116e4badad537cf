"""Recorded upstream output -> canonical -> our client encoding, parsed by the official SDK.

Proves an OpenAI SDK client reads what the gateway sends after a full translation, and that
the content it reassembles is the content the upstream produced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from syrupy.assertion import SnapshotAssertion

from engine.canonical import ChatRequest, Message, StreamEvent, StreamStart, TextPart
from engine.sse import SSEParser
from providers.base import Endpoint
from providers.openai.adapter import OpenAIChatAdapter
from providers.openai.codec import OpenAIChatCodec

adapter = OpenAIChatAdapter()
codec = OpenAIChatCodec()
STREAMS = [
    "01-plain-text.sse",
    "02-json-schema-response-format.sse",
    "04-max-tokens-length.sse",
    "05-refusal.sse",
    "08-single-tool-call.sse",
    "10-strict-tool-call.sse",
    "12-non-strict-tool-call.sse",
    "2026-text.chunks.txt",
]


def client_request(include_usage: bool) -> ChatRequest:
    return ChatRequest(
        model="my-gpt", messages=[Message("user", [TextPart("x")])], stream=True, include_usage=include_usage
    )


def translate(raw: bytes, endpoint: Endpoint, include_usage: bool) -> bytes:
    decoder = adapter.stream_decoder(endpoint)
    encoder = codec.stream_encoder(client_request(include_usage))
    events: list[StreamEvent] = [*decoder.feed(raw), *decoder.close()]
    # as the executor does: the client sees the public model id that served
    events = [replace(e, model="my-gpt") if isinstance(e, StreamStart) else e for e in events]
    return b"".join(encoder.encode(e) for e in events)


def sdk_chunks(raw: bytes) -> list[ChatCompletionChunk]:
    datas = [e.data for e in SSEParser().feed(raw)]
    assert datas[-1] == "[DONE]" and "[DONE]" not in datas[:-1]
    return [ChatCompletionChunk.model_validate(orjson.loads(d)) for d in datas[:-1]]


def accumulate(chunks: list[ChatCompletionChunk]) -> dict[str, object]:
    """What an SDK user reassembles from a stream (choice 0)."""
    content = refusal = ""
    tools: dict[int, list[str]] = {}
    finish = None
    usage = None
    for chunk in chunks:
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            content += choice.delta.content or ""
            refusal += choice.delta.refusal or ""
            for call in choice.delta.tool_calls or []:
                slot = tools.setdefault(call.index, ["", "", ""])
                if call.id:
                    slot[0] = call.id
                if call.function and call.function.name:
                    slot[1] = call.function.name
                if call.function and call.function.arguments:
                    slot[2] += call.function.arguments
            finish = choice.finish_reason or finish
    return {"content": content, "refusal": refusal, "tools": tools, "finish": finish, "usage": usage}


@pytest.mark.parametrize("name", STREAMS)
def test_translated_stream_reads_like_the_original(
    name: str, endpoint: Endpoint, recording: Callable[[str], bytes]
) -> None:
    raw = recording(name)
    original = accumulate(sdk_chunks(raw))
    ours = sdk_chunks(translate(raw, endpoint, include_usage=True))
    assert all(c.model == "my-gpt" for c in ours)
    assert accumulate(ours) == original
    without_usage = accumulate(sdk_chunks(translate(raw, endpoint, include_usage=False)))
    assert without_usage == {**original, "usage": None}


@pytest.mark.parametrize("name", ["08-single-tool-call.sse", "05-refusal.sse"])
def test_translated_stream_snapshot(
    name: str, endpoint: Endpoint, recording: Callable[[str], bytes], snapshot: SnapshotAssertion
) -> None:
    out = translate(recording(name), endpoint, include_usage=True)
    assert out.decode().split("\n\n") == snapshot


def test_non_streamed_round_trip(endpoint: Endpoint, fixture_bytes: Callable[[str], bytes]) -> None:
    raw = fixture_bytes("2026-chat-completion.json")
    request = ChatRequest(model="my-gpt", messages=[Message("user", [TextPart("x")])])
    response = adapter.decode_response(raw, endpoint)
    response.model = "my-gpt"  # as the executor does
    ours = ChatCompletion.model_validate(orjson.loads(codec.encode_response(response, request)))
    theirs = ChatCompletion.model_validate(orjson.loads(raw))
    assert ours.model == "my-gpt"
    assert ours.id == theirs.id and ours.created == theirs.created
    assert ours.choices[0].message.content == theirs.choices[0].message.content
    assert ours.choices[0].finish_reason == theirs.choices[0].finish_reason
    assert ours.usage is not None and theirs.usage is not None
    assert (ours.usage.prompt_tokens, ours.usage.completion_tokens, ours.usage.total_tokens) == (
        theirs.usage.prompt_tokens,
        theirs.usage.completion_tokens,
        theirs.usage.total_tokens,
    )
