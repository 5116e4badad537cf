"""Reading broken Gemini streams (decoder and passthrough), on the real recordings: a
malformed chunk is skipped; Gemini has no terminator, so the chunk with ``finishReason``
ends the stream whatever follows it, and a cut before it is a cut; the passthrough says
when the first token went by."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.canonical import StreamEvent
from engine.errors import UpstreamError
from providers.gemini.passthrough import GeminiPassthrough, GeminiPassthroughStream
from providers.gemini.stream_decoder import GeminiStreamDecoder
from tests.providers.gemini.gemini_helpers import adapter, endpoint, sse_bytes
from tests.providers.sse_faults import GARBAGE, first_token_frame, frame_index, split_frames, with_event_inserted

PASS = GeminiPassthrough()
STREAMS = [
    "google-text.chunks.txt",
    "google-reasoning.chunks.txt",
    "google-tool-call.chunks.txt",
    "google-stream-tool-call-arguments.chunks.txt",
]
# Usage counts that are not integers: neither reader can take the chunk.
UNREADABLE_USAGE = b'data: {"usageMetadata": {"promptTokenCount": "many"}}\r\n\r\n'
# JSON the decoder cannot read (text that is not a string); the passthrough relays it.
UNREADABLE_TEXT = b'data: {"candidates": [{"content": {"parts": [{"text": 5}], "role": "model"}}]}\r\n\r\n'


def decode(raw: bytes) -> tuple[list[StreamEvent], GeminiStreamDecoder]:
    decoder = adapter().stream_decoder(endpoint())
    events = [event for frame in split_frames(raw) for event in decoder.feed(frame)]
    return events + decoder.close(), decoder


def relay(raw: bytes) -> tuple[bytes, GeminiPassthroughStream]:
    stream = PASS.stream("gemini-public", client_wants_usage=False)
    out = b"".join(stream.feed(frame) for frame in split_frames(raw))
    return out + stream.close(), stream


def sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks)


def finish_frame(raw: bytes) -> int:
    return frame_index(raw, b'"finishReason"')


# ---- a malformed chunk is skipped ---------------------------------------------------------


@pytest.mark.parametrize("bad", [*GARBAGE, UNREADABLE_USAGE, UNREADABLE_TEXT])
@pytest.mark.parametrize("name", STREAMS)
def test_decoder_skips_a_malformed_chunk_and_decodes_the_rest(name: str, bad: bytes) -> None:
    clean, clean_decoder = decode(sse_bytes(name))
    events, decoder = decode(with_event_inserted(sse_bytes(name), bad))
    assert events == clean
    assert (decoder.malformed_events, clean_decoder.malformed_events) == (1, 0)


@pytest.mark.parametrize("bad", [*GARBAGE, UNREADABLE_USAGE])
@pytest.mark.parametrize("name", STREAMS)
def test_passthrough_skips_a_malformed_chunk_without_relaying_it(name: str, bad: bytes) -> None:
    clean, clean_stream = relay(sse_bytes(name))
    out, stream = relay(with_event_inserted(sse_bytes(name), bad))
    assert out == clean
    assert stream.usage == clean_stream.usage and stream.usage is not None
    assert (stream.malformed_events, clean_stream.malformed_events) == (1, 0)


@pytest.mark.parametrize("name", STREAMS)
def test_empty_data_lines_are_keep_alives_not_malformed(name: str) -> None:
    raw = with_event_inserted(sse_bytes(name), b"data:\r\n\r\ndata: \r\n\r\n")
    events, decoder = decode(raw)
    out, stream = relay(raw)
    assert (events, out) == (decode(sse_bytes(name))[0], relay(sse_bytes(name))[0])
    assert decoder.malformed_events == stream.malformed_events == 0


def test_a_chunk_with_a_broken_later_part_is_skipped_whole() -> None:
    """Its first part is readable, its second is not: the chunk is read before it is
    applied, so neither part reaches the events."""
    text = {"candidates": [{"content": {"parts": [{"text": "kept"}], "role": "model"}, "index": 0}]}
    broken = {"candidates": [{"content": {"parts": [{"text": "lost"}, {"text": "x", "thought": "yes"}]}}]}
    finish = {"candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP"}]}
    events, decoder = decode(sse(text, broken, finish))
    assert events == decode(sse(text, finish))[0]
    assert decoder.malformed_events == 1


def test_what_is_readable_but_wrong_is_still_an_error() -> None:
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    executable = {"candidates": [{"content": {"parts": [{"executableCode": {"code": "1"}}]}}]}
    for chunk, failure in ((error, "server"), (executable, "server")):
        raw = with_event_inserted(sse_bytes("google-text.chunks.txt"), sse(chunk))
        with pytest.raises(UpstreamError) as info:
            decode(raw)
        assert info.value.failure == failure
    with pytest.raises(UpstreamError) as relayed:
        relay(with_event_inserted(sse_bytes("google-text.chunks.txt"), sse(error)))
    assert relayed.value.failure == "server" and relayed.value.upstream_status == 503


# ---- the finishReason chunk ends the stream -----------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_the_finish_chunk_without_its_blank_line_or_with_a_cut_trailer_completes(name: str) -> None:
    raw = sse_bytes(name)
    assert split_frames(raw)[-1] == split_frames(raw)[finish_frame(raw)]  # the recordings end on it
    clean, _ = decode(raw)
    clean_out, _ = relay(raw)
    for ending in (raw.removesuffix(b"\r\n\r\n"), raw + b'data: {"usageMetadata": {"promptTo'):
        events, decoder = decode(ending)
        out, stream = relay(ending)
        assert (events, out) == (clean, clean_out)
        assert decoder.malformed_events == stream.malformed_events == 0


@pytest.mark.parametrize("name", STREAMS)
def test_every_cut_before_the_finish_is_stream_cut(name: str) -> None:
    raw = sse_bytes(name)
    frames = split_frames(raw)
    finish = finish_frame(raw)
    cuts = [b"".join(frames[:k]) for k in range(finish + 1)]
    cuts.append(b"".join(frames[:finish]) + frames[finish][:-40])  # inside the finish chunk
    for cut in cuts:
        with pytest.raises(UpstreamError) as decoded:
            decode(cut)
        with pytest.raises(UpstreamError) as relayed:
            relay(cut)
        assert decoded.value.failure == relayed.value.failure == "stream_cut"


# ---- the first token ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("google-text.chunks.txt", b'"text":"There are **3**"'),
        ("google-tool-call.chunks.txt", b'"name":"weather"'),
        ("google-stream-tool-call-arguments.chunks.txt", b'"name":"getWeather"'),
    ],
)
def test_started_flips_at_the_first_token_frame(name: str, token: bytes) -> None:
    """The recordings open with output; a stream opening with a usage-only chunk (as
    Vertex streams do) and an empty text part starts at its first text."""
    quiet = sse(
        {"usageMetadata": {"trafficType": "ON_DEMAND"}, "modelVersion": "gemini-3"},
        {"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "index": 0}]},
    )
    for raw in (sse_bytes(name), quiet + sse_bytes(name)):
        at, relayed = first_token_frame(raw, lambda: PASS.stream("gemini-public", False))
        assert at == frame_index(raw, token)
        assert token in relayed
    assert frame_index(quiet + sse_bytes(name), token) == 2


def test_a_thought_is_a_token() -> None:
    stream = PASS.stream("m", False)
    stream.feed(sse({"candidates": [{"content": {"parts": [{"text": "Hmm", "thought": True}]}}]}))
    assert stream.started
