"""Reading broken Anthropic streams (decoder and passthrough), on the real recordings: a
malformed event is skipped, a lost ``message_stop`` after the stop reason is no failure, a
cut before it is, and the passthrough says when the first token went by."""

from __future__ import annotations

import pytest

from engine.canonical import StreamEvent
from engine.errors import UpstreamError
from providers.anthropic.passthrough import AnthropicPassthrough, AnthropicPassthroughStream
from providers.anthropic.stream_decoder import AnthropicStreamDecoder
from tests.providers.anthropic._anthropic_fixtures import fixed_clock, sse_payloads, stream_bytes
from tests.providers.sse_faults import GARBAGE, first_token_frame, frame_index, split_frames, with_event_inserted

PASS = AnthropicPassthrough()
STREAMS = [
    "recorded-2026/anthropic-text.chunks.txt",
    "recorded-2026/anthropic-json-tool.1.chunks.txt",
    "recorded-2026/anthropic-web-search-tool.1.chunks.txt",
    "sdk-fixtures/tool_use_response.sse",
]
MALFORMED = [b"event: content_block_delta\n" + bad for bad in GARBAGE]
# JSON the decoder cannot read (a block index that is not an integer); the passthrough
# relays it, as it relays every event whose data is a JSON object.
UNREADABLE_INDEX = (
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":"0","delta":{"type":"text_delta","text":"lost"}}\n\n'
)
STOP = b"message_stop"


def whole(name: str) -> bytes:
    raw = stream_bytes(name)
    return raw if raw.endswith(b"\n\n") else raw.rstrip(b"\n") + b"\n\n"


def decode(raw: bytes) -> tuple[list[StreamEvent], AnthropicStreamDecoder]:
    decoder = AnthropicStreamDecoder(fixed_clock)
    events = [event for frame in split_frames(raw) for event in decoder.feed(frame)]
    return events + decoder.close(), decoder


def relay(raw: bytes) -> tuple[bytes, AnthropicPassthroughStream]:
    stream = PASS.stream("my-claude", client_wants_usage=False)
    out = b"".join(stream.feed(frame) for frame in split_frames(raw))
    return out + stream.close(), stream


# ---- a malformed event is skipped ---------------------------------------------------------


@pytest.mark.parametrize("bad", [*MALFORMED, UNREADABLE_INDEX])
@pytest.mark.parametrize("name", STREAMS)
def test_decoder_skips_a_malformed_event_and_decodes_the_rest(name: str, bad: bytes) -> None:
    clean, clean_decoder = decode(whole(name))
    events, decoder = decode(with_event_inserted(whole(name), bad))
    assert events == clean
    assert (decoder.malformed_events, clean_decoder.malformed_events) == (1, 0)


@pytest.mark.parametrize("bad", MALFORMED)
@pytest.mark.parametrize("name", STREAMS)
def test_passthrough_skips_a_malformed_event_without_relaying_it(name: str, bad: bytes) -> None:
    clean, clean_stream = relay(whole(name))
    out, stream = relay(with_event_inserted(whole(name), bad))
    assert out == clean
    assert stream.usage == clean_stream.usage and stream.usage is not None
    assert (stream.malformed_events, clean_stream.malformed_events) == (1, 0)


@pytest.mark.parametrize("name", STREAMS)
def test_empty_data_lines_are_keep_alives_not_malformed(name: str) -> None:
    raw = with_event_inserted(whole(name), b"data:\n\nevent: ping\ndata: \n\n")
    events, decoder = decode(raw)
    out, stream = relay(raw)
    assert (events, out) == (decode(whole(name))[0], relay(whole(name))[0])
    assert decoder.malformed_events == stream.malformed_events == 0


def test_an_error_event_that_parses_is_still_an_error() -> None:
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    raw = with_event_inserted(whole("recorded-2026/anthropic-text.chunks.txt"), error)
    with pytest.raises(UpstreamError) as decoded:
        decode(raw)
    with pytest.raises(UpstreamError) as relayed:
        relay(raw)
    assert (decoded.value.failure, decoded.value.upstream_status) == ("server", 529)
    assert (relayed.value.failure, relayed.value.upstream_status) == ("server", 529)


# ---- a lost message_stop after the stop reason is no failure --------------------------


def _without_message_stop(raw: bytes) -> list[bytes]:
    """The stream as it ends without ``message_stop``: not sent, cut inside its data, or
    cut after its event line."""
    frames = split_frames(raw)
    assert STOP in frames[-1]
    bare = b"".join(frames[:-1])
    return [bare, bare + frames[-1][:-8], bare + b"event: message_stop\n"]


@pytest.mark.parametrize("name", STREAMS)
def test_decoder_completes_a_stream_whose_message_stop_was_lost(name: str) -> None:
    clean, _ = decode(whole(name))
    for raw in _without_message_stop(whole(name)):
        events, decoder = decode(raw)
        assert events == clean
        assert decoder.malformed_events == 0


@pytest.mark.parametrize("name", STREAMS)
def test_passthrough_writes_message_stop_for_a_stream_that_lost_it(name: str) -> None:
    clean, clean_stream = relay(whole(name))
    for raw in _without_message_stop(whole(name)):
        out, stream = relay(raw)
        assert sse_payloads(out) == sse_payloads(clean)
        assert out.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        assert stream.finished and stream.usage == clean_stream.usage


# ---- a cut before the stop reason is a cut ------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_every_cut_before_the_stop_reason_is_stream_cut(name: str) -> None:
    raw = whole(name)
    frames = split_frames(raw)
    delta = frame_index(raw, b"event: message_delta")
    cuts = [b"".join(frames[:k]) for k in range(delta + 1)]
    cuts.append(b"".join(frames[:delta]) + frames[delta][:-20])  # inside the message_delta
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
        # message_start, an empty text block and a ping come first
        ("recorded-2026/anthropic-text.chunks.txt", b'"text":"Hello"'),
        ("sdk-fixtures/tool_use_response.sse", b'"text":"I"'),
        # the tool_use block carries the call's name
        ("recorded-2026/anthropic-json-tool.1.chunks.txt", b'"name":"json"'),
        # a fallback marker block holds no output
        ("recorded-2026/anthropic-fallback.chunks.txt", b'"text":"The printing press'),
    ],
)
def test_started_flips_at_the_first_token_frame(name: str, token: bytes) -> None:
    raw = whole(name)
    at, relayed = first_token_frame(raw, lambda: PASS.stream("my-claude", False))
    assert at == frame_index(raw, token) > 0
    assert token in relayed


def test_empty_blocks_and_deltas_are_no_token_and_thinking_is() -> None:
    start = b'event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{}}}\n\n'
    quiet = [
        start,
        b": keep-alive\n\n",
        b'event: ping\ndata: {"type":"ping"}\n\n',
        b'data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}\n\n',
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":""}}\n\n',
    ]
    stream = PASS.stream("m", False)
    for frame in quiet:
        stream.feed(frame)
        assert not stream.started
    stream.feed(b'data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"So"}}\n\n')
    assert stream.started
    redacted = PASS.stream("m", False)
    redacted.feed(start)
    redacted.feed(b'data: {"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking"}}\n\n')
    assert redacted.started
