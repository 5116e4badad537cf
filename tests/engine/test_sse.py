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


LF_FRAMES = st.lists(
    st.one_of(
        st.text(min_size=1, max_size=12).map(lambda t: ("data: " + t.replace("\n", " ").replace("\r", " ")).encode()),
        st.tuples(st.sampled_from(["delta", "ping", "message_stop"]), st.text(max_size=8)).map(
            lambda p: f"event: {p[0]}\ndata: {p[1].replace(chr(10), ' ').replace(chr(13), ' ')}".encode()
        ),
        st.just(b": keep-alive"),
        st.just(b"data: first\ndata: second"),
        st.just(b"data:no-space \xe2\x9c\x93"),
        st.just(b""),  # an extra blank line
    ),
    max_size=8,
)


@given(LF_FRAMES, st.lists(st.integers(min_value=0, max_value=400), max_size=10))
def test_the_whole_frame_fast_path_reads_like_the_line_parser(frames: list[bytes], cuts: list[int]) -> None:
    """Streams with ``\\n`` line ends take the whole-frame path; any split of them gives the
    events the line-by-line parser gives for the whole stream at once."""
    stream = b"".join(f + b"\n\n" for f in frames)
    reference = SSEParser()
    expected = reference._lines(stream)
    parser = SSEParser()
    events: list[SSEEvent] = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(stream)):
        events += parser.feed(stream[start:cut])
        start = cut
    events += parser.feed(stream[start:])
    assert events == expected
    assert not parser.pending
