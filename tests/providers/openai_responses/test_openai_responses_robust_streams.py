"""Reading broken Responses streams (decoder and passthrough), on the real recordings: a
malformed event is skipped; the terminal event is the finish here, so a stream without it
is cut however done its items look; the passthrough says when the first token went by."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.canonical import StreamEvent
from engine.errors import UpstreamError
from providers.openai_responses.passthrough import ResponsesPassthrough, ResponsesPassthroughStream
from providers.openai_responses.stream_decoder import ResponsesStreamDecoder
from tests.providers.openai_responses.recordings import recorded_streams, sse
from tests.providers.sse_faults import GARBAGE, first_token_frame, frame_index, split_frames, with_event_inserted

PASS = ResponsesPassthrough()
RECORDED = recorded_streams()
STREAMS = ["openai-phase.1", "openai-reasoning-encrypted-content.1", "openai-reasoning-encrypted-content.1#2"]
MALFORMED = [b"event: response.output_text.delta\n" + bad for bad in GARBAGE]
# A terminal event whose usage cannot be read: neither reader can take it.
UNREADABLE_TERMINAL = b'event: response.completed\ndata: {"type":"response.completed","response":{"status":"completed","usage":"lots"}}\n\n'
# JSON the decoder cannot read (a delta that is not a string); the passthrough relays it.
UNREADABLE_DELTA = (
    b"event: response.output_text.delta\n"
    b'data: {"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":5}\n\n'
)


def decode(raw: bytes) -> tuple[list[StreamEvent], ResponsesStreamDecoder]:
    decoder = ResponsesStreamDecoder()
    events = [event for frame in split_frames(raw) for event in decoder.feed(frame)]
    return events + decoder.close(), decoder


def relay(raw: bytes) -> tuple[bytes, ResponsesPassthroughStream]:
    stream = PASS.stream("my-gpt", True)
    out = b"".join(stream.feed(frame) for frame in split_frames(raw))
    return out + stream.close(), stream


def payloads(name: str) -> list[dict[str, Any]]:
    return RECORDED[name]


# ---- a malformed event is skipped ---------------------------------------------------------


@pytest.mark.parametrize("bad", [*MALFORMED, UNREADABLE_TERMINAL, UNREADABLE_DELTA])
@pytest.mark.parametrize("name", STREAMS)
def test_decoder_skips_a_malformed_event_and_decodes_the_rest(name: str, bad: bytes) -> None:
    clean, clean_decoder = decode(sse(payloads(name)))
    events, decoder = decode(with_event_inserted(sse(payloads(name)), bad))
    assert events == clean
    assert (decoder.malformed_events, clean_decoder.malformed_events) == (1, 0)


@pytest.mark.parametrize("bad", [*MALFORMED, UNREADABLE_TERMINAL])
@pytest.mark.parametrize("name", STREAMS)
def test_passthrough_skips_a_malformed_event_without_relaying_it(name: str, bad: bytes) -> None:
    clean, clean_stream = relay(sse(payloads(name)))
    out, stream = relay(with_event_inserted(sse(payloads(name)), bad))
    assert out == clean
    assert stream.usage == clean_stream.usage and stream.usage is not None
    assert (stream.malformed_events, clean_stream.malformed_events) == (1, 0)


@pytest.mark.parametrize("name", STREAMS)
def test_empty_data_lines_are_keep_alives_not_malformed(name: str) -> None:
    raw = with_event_inserted(sse(payloads(name)), b"data:\n\nevent: keepalive\ndata: \n\n")
    events, decoder = decode(raw)
    out, stream = relay(raw)
    assert (events, out) == (decode(sse(payloads(name)))[0], relay(sse(payloads(name)))[0])
    assert decoder.malformed_events == stream.malformed_events == 0


def test_a_skipped_event_leaves_no_part_half_started() -> None:
    """A text delta whose content starts a part, but whose delta cannot be read: nothing of
    it is emitted, and the part starts with the next readable delta."""
    created = {"type": "response.created", "response": {"id": "r", "model": "m", "created_at": 1}}
    delta: dict[str, Any] = {"type": "response.output_text.delta", "output_index": 0, "content_index": 0}
    completed = {"type": "response.completed", "response": {"status": "completed", "usage": None}}
    broken = sse([created, {**delta, "delta": ["x"]}, {**delta, "delta": "hi"}, completed])
    events, decoder = decode(broken)
    assert events == decode(sse([created, {**delta, "delta": "hi"}, completed]))[0]
    assert decoder.malformed_events == 1


def test_a_failed_event_that_parses_is_still_an_error_whatever_its_shape() -> None:
    created = {"type": "response.created", "response": {"id": "r", "model": "m", "created_at": 1}}
    raw = sse([created, {"type": "response.failed", "response": "gone"}])
    with pytest.raises(UpstreamError) as decoded:
        decode(raw)
    with pytest.raises(UpstreamError) as relayed:
        relay(raw)
    assert decoded.value.failure == relayed.value.failure == "server"
    assert decoded.value.message == relayed.value.message


# ---- the terminal event is the finish -----------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_every_item_done_but_no_terminal_event_is_stream_cut(name: str) -> None:
    """Only ``response.completed`` says no further item follows and carries the status and
    usage: a stream whose items are all done without it is cut."""
    events = payloads(name)
    assert events[-1]["type"] == "response.completed" and events[-2]["type"] == "response.output_item.done"
    for raw in (sse(events[:-1]), sse(events)[:-40]):
        with pytest.raises(UpstreamError) as decoded:
            decode(raw)
        with pytest.raises(UpstreamError) as relayed:
            relay(raw)
        assert decoded.value.failure == relayed.value.failure == "stream_cut"


@pytest.mark.parametrize("name", STREAMS)
def test_every_cut_before_the_terminal_event_is_stream_cut(name: str) -> None:
    frames = split_frames(sse(payloads(name)))
    for k in range(len(frames)):
        with pytest.raises(UpstreamError) as decoded:
            decode(b"".join(frames[:k]))
        with pytest.raises(UpstreamError) as relayed:
            relay(b"".join(frames[:k]))
        assert decoded.value.failure == relayed.value.failure == "stream_cut"


@pytest.mark.parametrize("name", STREAMS)
def test_whatever_follows_the_terminal_event_changes_nothing(name: str) -> None:
    clean, _ = decode(sse(payloads(name)))
    clean_out, _ = relay(sse(payloads(name)))
    for tail in (b"data: [DONE]\n\n", b"data: {not json\n\n", b'data: {"type":"response.output_te'):
        events, decoder = decode(sse(payloads(name)) + tail)
        out, stream = relay(sse(payloads(name)) + tail)
        assert (events, out) == (clean, clean_out)
        assert decoder.malformed_events == stream.malformed_events == 0


# ---- the first token ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("openai-phase.1", b"response.output_text.delta"),
        ("openai-reasoning-encrypted-content.1", b"response.reasoning_summary_text.delta"),
        ("openai-reasoning-encrypted-content.1#2", b'"type":"function_call"'),  # the item has the name
        ("openai-custom-tool.1", b'"type":"custom_tool_call"'),
        # reasoning without a summary: the reasoning item's end is the first output
        ("openai-image-generation-tool.1", b"response.output_item.done"),
    ],
)
def test_started_flips_at_the_first_token_frame(name: str, token: bytes) -> None:
    raw = sse(payloads(name))
    at, relayed = first_token_frame(raw, lambda: PASS.stream("my-gpt", True))
    assert at == frame_index(raw, token) >= 2  # response.created and in_progress come first
    assert token in relayed


def test_openings_without_content_are_no_token() -> None:
    quiet: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "r", "model": "m"}},
        {"type": "response.in_progress", "response": {"id": "r", "model": "m"}},
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "summary": []}},
        {"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "content": []}},
        {"type": "response.content_part.added", "output_index": 1, "part": {"type": "output_text", "text": ""}},
        {"type": "response.output_text.delta", "output_index": 1, "content_index": 0, "delta": ""},
    ]
    stream = PASS.stream("m", True)
    stream.feed(b": keep-alive\n\n")
    for event in quiet:
        assert stream.feed(b"data: " + orjson.dumps(event) + b"\n\n")
        assert not stream.started
    done = {"type": "response.output_text.done", "output_index": 1, "content_index": 0, "text": "Hi"}
    stream.feed(b"data: " + orjson.dumps(done) + b"\n\n")  # a proxy that streams no deltas
    assert stream.started
