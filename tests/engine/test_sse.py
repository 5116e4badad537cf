"""SSE parsing: events survive any split of the byte stream, in every line-ending style."""

from hypothesis import given
from hypothesis import strategies as st

from engine.sse import SSEEvent, SSEParser, frame

STREAM = (
    b'event: message_start\r\ndata: {"a": 1}\r\n\r\n'
    b": keep-alive comment\n\n"
    b"data: first line\ndata: second line\n\n"
    b"event: ping\rdata: {}\r\r"
    b"data:no-space \xe2\x9c\x93\n\n"
)
EXPECTED = [
    SSEEvent("message_start", '{"a": 1}'),
    SSEEvent(None, "first line\nsecond line"),
    SSEEvent("ping", "{}"),
    SSEEvent(None, "no-space \u2713"),
]


def test_parses_every_line_ending_and_joins_multiline_data() -> None:
    parser = SSEParser()
    assert parser.feed(STREAM) == EXPECTED
    assert not parser.pending


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_of_the_bytes_gives_the_same_events(cuts: list[int]) -> None:
    parser = SSEParser()
    events: list[SSEEvent] = []
    start = 0
    for cut in sorted(cuts):
        events += parser.feed(STREAM[start:cut])
        start = cut
    events += parser.feed(STREAM[start:])
    assert events == EXPECTED


def test_a_partial_event_is_pending_so_a_cut_stream_is_detectable() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"partial": tr') == []
    assert parser.pending


def test_frame_round_trips_through_the_parser() -> None:
    data = frame(b'{"x":1}') + frame('{"y":2}', event="delta")
    assert SSEParser().feed(data) == [SSEEvent(None, '{"x":1}'), SSEEvent("delta", '{"y":2}')]


def test_end_hands_over_a_last_event_left_without_its_blank_line() -> None:
    for tail in (b"", b"\n", b"\r"):
        parser = SSEParser()
        assert parser.feed(b"data: one\n\nevent: stop\ndata: {}" + tail) == [SSEEvent(None, "one")]
        assert parser.end() == [SSEEvent("stop", "{}")]
        assert not parser.pending and parser.end() == []


def test_end_of_a_stream_that_ended_cleanly_gives_nothing() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: one\n\n: comment") == [SSEEvent(None, "one")]
    assert parser.end() == []
