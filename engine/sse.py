"""Server-sent events: framing for what we send, incremental parsing for what we receive.

The parser follows the WHATWG rules that matter for LLM APIs: events end at a blank line,
``data:`` lines of one event are joined with ``\\n``, one optional space after the colon is
dropped, comment lines (``:``) are ignored, and ``\\r\\n``, ``\\r`` and ``\\n`` all end a line.
Bytes may arrive split anywhere, including inside a UTF-8 character. ``end()`` hands over
a last event the stream did not close with a blank line.
"""

from __future__ import annotations

from typing import NamedTuple


class SSEEvent(NamedTuple):  # a tuple: one per upstream frame, cheap to make
    event: str | None
    data: str


def frame(data: bytes | str, event: str | None = None) -> bytes:
    """One SSE frame. ``data`` must not contain a newline (JSON from orjson never does)."""
    payload = data.encode() if isinstance(data, str) else data
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


class SSEParser:
    """Incremental SSE parser: ``feed(bytes) -> [SSEEvent]``; ``pending`` tells whether a
    partial event is buffered (a stream that ends with one was cut)."""

    __slots__ = ("_buf", "_event", "_data", "_has_data")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []
        self._has_data = False

    @property
    def pending(self) -> bool:
        return bool(self._buf.strip()) or self._has_data

    def end(self) -> list[SSEEvent]:
        """At the end of the byte stream: the last event, when the stream did not end it with
        a blank line. (WHATWG discards it; upstreams often leave the final blank line out, so
        the reader gets it and judges from its data whether it arrived whole.)"""
        return self.feed(b"\n\n") if self.pending else []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" not in buf and not self._has_data and self._event is None:
            return self._frames(buf)
        return self._lines(buf)

    def _frames(self, buf: bytes) -> list[SSEEvent]:
        """The usual stream (``\n`` line ends, nothing half-read): whole frames at C speed,
        the one-line ``data: ...`` and two-line ``event: ...`` / ``data: ...`` frames read
        directly, anything else through the line parser."""
        out: list[SSEEvent] = []
        frames = buf.split(b"\n\n")
        self._buf = b""
        tail = frames.pop()  # after the last blank line: a frame not whole yet (or nothing)
        for raw in frames:
            if raw[:6] == b"data: " and b"\n" not in raw:
                out.append(SSEEvent(None, raw[6:].decode("utf-8", errors="replace")))
                continue
            if raw[:7] == b"event: ":
                name, nl, data = raw.partition(b"\n")
                if nl and data[:6] == b"data: " and b"\n" not in data:
                    out.append(
                        SSEEvent(name[7:].decode("utf-8", errors="replace"), data[6:].decode("utf-8", errors="replace"))
                    )
                    continue
            out.extend(self._lines(raw + b"\n\n"))
        if tail:
            out.extend(self._lines(tail))
        return out

    def _lines(self, buf: bytes) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        start = 0
        n = len(buf)
        cr = buf.find(b"\r")  # -1 for the usual \n-only stream: no rescans, stays linear
        while start < n:
            nl = buf.find(b"\n", start)
            if cr != -1 and cr < start:
                cr = buf.find(b"\r", start)
            if nl == -1 and cr == -1:
                break
            if cr != -1 and (nl == -1 or cr < nl):
                if cr + 1 == n:
                    break  # a lone \r at the end: wait, it may be the first half of \r\n
                end, nxt = cr, cr + (2 if buf[cr + 1 : cr + 2] == b"\n" else 1)
            else:
                end, nxt = nl, nl + 1
            self._line(buf[start:end], out)
            start = nxt
        self._buf = buf[start:]
        return out

    def _line(self, raw: bytes, out: list[SSEEvent]) -> None:
        if not raw:
            if self._has_data:
                out.append(SSEEvent(self._event, "\n".join(self._data)))
            self._event, self._data, self._has_data = None, [], False
            return
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            return
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value
