"""Reading broken OpenAI chat streams (decoder and passthrough), on the real recordings: a
malformed event is skipped, a lost ``[DONE]`` after the finish is no failure, a cut before
the finish is, and the passthrough says when the first token went by."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from engine.canonical import StreamEnd, StreamEvent, Usage
from engine.errors import UpstreamError
from providers.base import Endpoint
from providers.openai.adapter import OpenAIChatAdapter
from providers.openai.passthrough import PassthroughStream
from providers.openai.stream_decoder import OpenAIChatStreamDecoder
from tests.providers.sse_faults import GARBAGE, first_token_frame, frame_index, split_frames, with_event_inserted

adapter = OpenAIChatAdapter()
STREAMS = ["01-plain-text.sse", "08-single-tool-call.sse", "2026-text.chunks.txt"]
MALFORMED = [*GARBAGE, b'data: {"id": "x", "choices": "not a list"}\n\n', b'data: {"choices": [null]}\n\n']
DONE = b"data: [DONE]\n\n"


def decode(raw: bytes, endpoint: Endpoint) -> tuple[list[StreamEvent], OpenAIChatStreamDecoder]:
    decoder = adapter.stream_decoder(endpoint)
    events = [event for frame in split_frames(raw) for event in decoder.feed(frame)]
    return events + decoder.close(), decoder


def relay(raw: bytes, wants_usage: bool = True) -> tuple[bytes, PassthroughStream]:
    stream = PassthroughStream("my-gpt", wants_usage)
    out = b"".join(stream.feed(frame) for frame in split_frames(raw))
    return out + stream.close(), stream


def finish_frame(raw: bytes) -> int:
    return next(
        i
        for i, frame in enumerate(split_frames(raw))
        if frame.startswith(b"data: {")
        and any(c.get("finish_reason") for c in orjson.loads(frame[6:]).get("choices") or [])
    )


# ---- a malformed event is skipped ---------------------------------------------------------


@pytest.mark.parametrize("bad", MALFORMED)
@pytest.mark.parametrize("name", STREAMS)
def test_decoder_skips_a_malformed_event_and_decodes_the_rest(
    name: str, bad: bytes, endpoint: Endpoint, recording: Callable[[str], bytes]
) -> None:
    clean, clean_decoder = decode(recording(name), endpoint)
    events, decoder = decode(with_event_inserted(recording(name), bad), endpoint)
    assert events == clean
    assert (decoder.malformed_events, clean_decoder.malformed_events) == (1, 0)


@pytest.mark.parametrize("bad", MALFORMED)
@pytest.mark.parametrize("name", STREAMS)
def test_passthrough_skips_a_malformed_event_without_relaying_it(
    name: str, bad: bytes, recording: Callable[[str], bytes]
) -> None:
    clean, clean_stream = relay(recording(name))
    out, stream = relay(with_event_inserted(recording(name), bad))
    assert out == clean
    assert stream.usage == clean_stream.usage and stream.usage is not None
    assert (stream.malformed_events, clean_stream.malformed_events) == (1, 0)


@pytest.mark.parametrize("name", STREAMS)
def test_empty_data_lines_are_keep_alives_not_malformed(
    name: str, endpoint: Endpoint, recording: Callable[[str], bytes]
) -> None:
    raw = with_event_inserted(recording(name), b"data:\n\ndata: \n\n")
    events, decoder = decode(raw, endpoint)
    out, stream = relay(raw)
    assert (events, out) == (decode(recording(name), endpoint)[0], relay(recording(name))[0])
    assert decoder.malformed_events == stream.malformed_events == 0


def test_an_error_chunk_that_parses_is_still_an_error(endpoint: Endpoint, recording: Callable[[str], bytes]) -> None:
    error = b'data: {"error": {"message": "overloaded", "type": "server_error", "code": null}}\n\n'
    raw = with_event_inserted(recording("01-plain-text.sse"), error)
    with pytest.raises(UpstreamError) as decoded:
        decode(raw, endpoint)
    with pytest.raises(UpstreamError) as relayed:
        relay(raw)
    assert decoded.value.failure == relayed.value.failure == "server"
    assert decoded.value.message == relayed.value.message == "overloaded"


# ---- a lost [DONE] after the finish is no failure ------------------------------------


def _without_done(raw: bytes) -> list[bytes]:
    """The stream as it ends without ``[DONE]``: not sent, cut short, or the usage chunk
    last without its blank line."""
    assert raw.endswith(DONE)
    bare = raw.removesuffix(DONE)
    return [bare, bare + b"data: [DO", bare.removesuffix(b"\n\n")]


@pytest.mark.parametrize("name", STREAMS)
def test_decoder_completes_a_stream_whose_done_was_lost(
    name: str, endpoint: Endpoint, recording: Callable[[str], bytes]
) -> None:
    clean, _ = decode(recording(name), endpoint)
    assert isinstance(clean[-1], StreamEnd) and clean[-1].usage != Usage()
    for raw in _without_done(recording(name)):
        events, decoder = decode(raw, endpoint)
        assert events == clean
        assert decoder.malformed_events == 0


@pytest.mark.parametrize("name", STREAMS)
def test_passthrough_writes_done_for_a_stream_whose_done_was_lost(name: str, recording: Callable[[str], bytes]) -> None:
    for wants_usage in (True, False):
        clean, clean_stream = relay(recording(name), wants_usage)
        assert clean.endswith(DONE)
        for raw in _without_done(recording(name)):
            out, stream = relay(raw, wants_usage)
            assert out == clean
            assert stream.finished and stream.usage == clean_stream.usage


def test_a_cut_between_the_finish_and_the_usage_chunk_completes_without_usage(
    endpoint: Endpoint, recording: Callable[[str], bytes]
) -> None:
    """OpenAI sends the finish chunk, then the usage chunk, then ``[DONE]``. Lost after the
    finish, the answer is whole; only the usage is missing (zero in the StreamEnd, as for
    a server that never sends usage; None on the passthrough, for the executor to see)."""
    raw = recording("2026-text.chunks.txt")
    frames = split_frames(raw)
    finish = finish_frame(raw)
    assert finish == len(frames) - 3  # finish, usage, [DONE]
    cut = b"".join(frames[: finish + 1])
    clean, _ = decode(raw, endpoint)
    events, _ = decode(cut, endpoint)
    end = clean[-1]
    assert isinstance(end, StreamEnd)
    assert events == [*clean[:-1], StreamEnd(end.stop_reason, Usage())]
    out, stream = relay(cut)
    clean_out, _ = relay(raw)
    usage_frame = b"data: " + orjson.dumps({**orjson.loads(frames[finish + 1][6:]), "model": "my-gpt"}) + b"\n\n"
    assert usage_frame in clean_out
    assert out == clean_out.replace(usage_frame, b"")
    assert stream.usage is None


# ---- a cut before the finish is a cut -----------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_every_cut_before_the_finish_is_stream_cut(
    name: str, endpoint: Endpoint, recording: Callable[[str], bytes]
) -> None:
    raw = recording(name)
    frames = split_frames(raw)
    finish = finish_frame(raw)
    cuts = [b"".join(frames[:k]) for k in range(finish + 1)]
    cuts.append(b"".join(frames[:finish]) + frames[finish][:-30])  # inside the finish chunk
    for cut in cuts:
        with pytest.raises(UpstreamError) as decoded:
            decode(cut, endpoint)
        with pytest.raises(UpstreamError) as relayed:
            relay(cut)
        assert decoded.value.failure == relayed.value.failure == "stream_cut"


def test_several_choices_are_complete_only_when_each_finished(recording: Callable[[str], bytes]) -> None:
    raw = recording("03-n3-multiple-choices.sse")
    frames = split_frames(raw)
    first_finish = finish_frame(raw)
    last_finish = max(
        i for i, frame in enumerate(frames) if frame.startswith(b"data: {") and b'"finish_reason":"' in frame
    )
    assert first_finish < last_finish
    with pytest.raises(UpstreamError) as info:
        relay(b"".join(frames[: first_finish + 1]))
    assert info.value.failure == "stream_cut"
    out, stream = relay(b"".join(frames[: last_finish + 1]))
    assert out.endswith(DONE) and stream.finished


# ---- the first token ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "index", "token"),
    [
        ("01-plain-text.sse", 1, b'"content":"I\'m"'),  # after the role-only chunk
        ("2026-text.chunks.txt", 1, b'"content":"**"'),
        ("08-single-tool-call.sse", 0, b'"name":"GetWeatherArgs"'),  # the call's name comes with the role
    ],
)
def test_started_flips_at_the_first_token_frame(
    name: str, index: int, token: bytes, recording: Callable[[str], bytes]
) -> None:
    raw = recording(name)
    at, relayed = first_token_frame(raw, lambda: PassthroughStream("my-gpt", False))
    assert at == index == frame_index(raw, token)
    assert token in relayed


def test_role_deltas_comments_and_empty_deltas_are_no_token() -> None:
    def chunk(delta: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps({"id": "c", "choices": [{"index": 0, "delta": delta}]}) + b"\n\n"

    stream = PassthroughStream("m", False)
    quiet = [
        b": keep-alive\n\n",
        chunk({"role": "assistant", "content": "", "refusal": None}),
        chunk({"content": None, "reasoning_content": ""}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"arguments": ""}}]}),
        b'data: {"id": "c", "choices": [], "usage": null}\n\n',
    ]
    for frame in quiet:
        stream.feed(frame)
        assert not stream.started
    assert stream.feed(chunk({"reasoning_content": "Hmm"}))
    assert stream.started
    deltas: list[dict[str, Any]] = [
        {"content": "a"},
        {"refusal": "no"},
        {"tool_calls": [{"function": {"arguments": "{"}}]},
    ]
    for delta in deltas:
        other = PassthroughStream("m", False)
        other.feed(chunk(delta))
        assert other.started
