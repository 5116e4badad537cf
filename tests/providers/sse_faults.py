"""Recorded SSE streams taken apart frame by frame, for the tests that break them: a
malformed event in the middle, a terminator lost after the finish, a cut before it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol, TypeVar

_BLANK_LINE = re.compile(rb"\r\n\r\n|\n\n|\r\r")

# Events no upstream should send, as an upstream or a proxy in front of it has sent them:
# JSON cut short, an HTML error page in a data line, JSON that is not an object.
GARBAGE = [
    b'data: {"id": "x", "choices": [{"delta": {"content": "lost in the mid\n\n',
    b"data: <html><body><h1>502 Bad Gateway</h1></body></html>\n\n",
    b"data: [1, 2, 3]\n\n",
]


def split_frames(raw: bytes) -> list[bytes]:
    """``raw`` as its frames, each with the blank line that ends it (a last frame without
    one is kept as it is)."""
    out: list[bytes] = []
    start = 0
    for match in _BLANK_LINE.finditer(raw):
        out.append(raw[start : match.end()])
        start = match.end()
    if raw[start:]:
        out.append(raw[start:])
    return out


def with_event_inserted(raw: bytes, event: bytes) -> bytes:
    """``raw`` with ``event`` between its two middle frames."""
    frames = split_frames(raw)
    middle = len(frames) // 2
    return b"".join([*frames[:middle], event, *frames[middle:]])


def frame_index(raw: bytes, needle: bytes) -> int:
    """The index of the first frame of ``raw`` containing ``needle``."""
    return next(i for i, frame in enumerate(split_frames(raw)) if needle in frame)


class Starting(Protocol):
    started: bool

    def feed(self, chunk: bytes) -> bytes: ...


S = TypeVar("S", bound=Starting)


def first_token_frame(raw: bytes, new_stream: Callable[[], S]) -> tuple[int, bytes]:
    """Feeds ``raw`` one frame at a time: the index of the frame after which ``started``
    first reads True, and what that feed relayed."""
    stream = new_stream()
    for index, frame in enumerate(split_frames(raw)):
        out = stream.feed(frame)
        if stream.started:
            return index, out
    raise AssertionError("the stream never started")
