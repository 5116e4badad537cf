"""Every real Gemini recording decoded by the adapter into canonical types (snapshots),
plus the properties the recordings imply: split-anywhere robustness, tool-use stops,
usage normalisation, thought signatures kept."""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    PartStart,
    SignatureDelta,
    StreamEnd,
    StreamStart,
    Thinking,
    ToolArgsDelta,
    ToolCall,
)
from engine.errors import UpstreamError
from providers.gemini import call_ids
from tests.providers.gemini.gemini_helpers import (
    adapter,
    chunk_lines,
    decode_stream,
    endpoint,
    fixture_bytes,
    sse_bytes,
)

STREAMS = [
    "google-text.chunks.txt",
    "google-reasoning.chunks.txt",
    "google-reasoning-gemini3.chunks.txt",
    "google-tool-call.chunks.txt",
    "google-stream-tool-call-arguments.chunks.txt",
]
RESPONSES = ["google-text.json", "google-reasoning.json", "google-reasoning-gemini3.json", "google-tool-call.json"]


@pytest.mark.parametrize("name", STREAMS)
def test_stream_recording_decodes(name: str, snapshot: SnapshotAssertion) -> None:
    assert decode_stream(sse_bytes(name)) == snapshot


@pytest.mark.parametrize("name", STREAMS)
def test_stream_decoding_does_not_depend_on_chunk_boundaries(name: str) -> None:
    data = sse_bytes(name)
    whole = decode_stream(data)
    assert decode_stream(data, step=1) == whole
    assert decode_stream(data, step=7) == whole
    assert decode_stream(data.replace(b"\r\n", b"\n")) == whole


@pytest.mark.parametrize("name", RESPONSES)
def test_response_recording_decodes(name: str, snapshot: SnapshotAssertion) -> None:
    assert adapter().decode_response(fixture_bytes(name), endpoint()) == snapshot


def test_stream_order_start_parts_end() -> None:
    events = decode_stream(sse_bytes("google-reasoning.chunks.txt"))
    assert isinstance(events[0], StreamStart)
    assert isinstance(events[-1], StreamEnd)
    assert sum(isinstance(e, (StreamStart, StreamEnd)) for e in events) == 2


def test_usage_counts_thoughts_as_output() -> None:
    end = decode_stream(sse_bytes("google-reasoning-gemini3.chunks.txt"))[-1]
    assert isinstance(end, StreamEnd)
    # promptTokenCount 9, candidatesTokenCount 23, thoughtsTokenCount 302 (last chunk)
    assert (end.usage.input_tokens, end.usage.output_tokens, end.usage.reasoning_tokens) == (9, 325, 302)
    assert end.usage.total_tokens == 334  # the recording's totalTokenCount


def test_trailing_signature_becomes_signature_only_thinking() -> None:
    events = decode_stream(sse_bytes("google-text.chunks.txt"))
    starts = [e for e in events if isinstance(e, PartStart) and isinstance(e.part, Thinking)]
    sigs = [e for e in events if isinstance(e, SignatureDelta)]
    assert len(starts) == 1 and starts[0].part == Thinking("")
    assert sigs[0].signature.startswith("EqsFCqgFAb4+9vvt")
    assert sigs[0].index == starts[0].index


def test_tool_call_stream_stops_with_tool_use_and_keeps_signature() -> None:
    events = decode_stream(sse_bytes("google-tool-call.chunks.txt"))
    call = next(e.part for e in events if isinstance(e, PartStart) and isinstance(e.part, ToolCall))
    assert call.name == "weather"
    parts = call_ids.split(call.id)
    assert parts.base == "call_b36LacjwM668nsEP2tbsgQQ_0_weather"
    assert parts.signature is not None and parts.signature.startswith("EqUCCqICAb4+9vsh8Pd5")
    assert [e.fragment for e in events if isinstance(e, ToolArgsDelta)] == ['{"location":"San Francisco"}']
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason == "tool_use"


def test_streamed_arguments_assemble_into_two_calls() -> None:
    events = decode_stream(sse_bytes("google-stream-tool-call-arguments.chunks.txt"), model="gemini-3.1-pro-preview")
    calls = [e.part for e in events if isinstance(e, PartStart) and isinstance(e.part, ToolCall)]
    args = [e.fragment for e in events if isinstance(e, ToolArgsDelta)]
    assert [c.name for c in calls] == ["getWeather", "getWeather"]
    assert args == ['{"location":"Boston"}', '{"location":"San Francisco"}']
    assert call_ids.split(calls[0].id).signature is not None  # only the first call is signed
    assert call_ids.split(calls[1].id).signature is None
    assert len({c.id for c in calls}) == 2
    start = events[0]
    assert isinstance(start, StreamStart) and start.created == 1775149430  # Vertex createTime


def test_response_tool_call_is_tool_use_with_signature() -> None:
    resp = adapter().decode_response(fixture_bytes("google-tool-call.json"), endpoint())
    assert resp.stop_reason == "tool_use"
    (call,) = resp.parts
    assert isinstance(call, ToolCall)
    assert (
        call_ids.split(call.id).signature
        == "EskgCsYgAb4+9vtF7/499YQS2bjZs3xcQI+iAl+ILn29nK1j0Kg6su7QsUUUk3nrAAfnS2w5WiVvlcCqu9fAebJ2cvfaEyBahEt5"
    )


@pytest.mark.parametrize("name", STREAMS)
def test_stream_cut_before_finish_reason_is_stream_cut(name: str) -> None:
    lines = chunk_lines(name)[:-1]  # drop the chunk that carries finishReason
    decoder = adapter().stream_decoder(endpoint())
    for line in lines:
        decoder.feed(b"data: " + line.encode() + b"\r\n\r\n")
    with pytest.raises(UpstreamError) as info:
        decoder.close()
    assert info.value.failure == "stream_cut"


def test_empty_stream_is_stream_cut() -> None:
    decoder = adapter().stream_decoder(endpoint())
    assert decoder.feed(b"") == []
    with pytest.raises(UpstreamError) as info:
        decoder.close()
    assert info.value.failure == "stream_cut"
