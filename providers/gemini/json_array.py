"""Gemini's REST default for ``:streamGenerateContent``: one JSON array, written as it grows.

Without ``alt=sse`` the Gemini API answers a stream as a JSON array of
``GenerateContentResponse`` objects, each element sent as soon as it exists: ``[{...}``,
then ``\\n,{...}`` per further element, then ``\\n]``. curl and clients that do not speak SSE
read it this way. The gateway produces (and relays) Gemini streams as ``alt=sse`` frames,
so this module reframes them: each ``data:`` payload becomes one element, verbatim.

An in-band error is an SSE frame like any other (``data: {"error": {...}}``), so it
becomes the last element and the array is still closed: the client always receives
well-formed JSON. An error answered before the stream started (a plain error body) is
wrapped as a one-element array, as the Gemini API does (``[{"error": {...}}]``).

Pure and per response: SSE bytes in, array bytes out.
"""

from __future__ import annotations

from engine.sse import SSEParser

MEDIA_TYPE = "application/json"


class JsonArrayStream:
    """One per streamed response: ``feed`` the SSE frames, ``close`` at the end."""

    __slots__ = ("_parser", "_elements", "_closed")

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._elements = 0
        self._closed = False

    def feed(self, frames: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._parser.feed(frames):
            data = event.data.strip()
            if not data:
                continue
            out.append((b"[" if self._elements == 0 else b"\n,") + data.encode())
            self._elements += 1
        return b"".join(out)

    def close(self) -> bytes:
        """The end of the array. (The frames fed are whole: the gateway's own encoders and
        relays write them, so nothing is left half-read here.)"""
        if self._closed:
            return b""
        self._closed = True
        return b"\n]" if self._elements else b"[]"


def error_array(body: bytes) -> bytes:
    """A whole error body as the array the Gemini API answers a failed stream with."""
    return b"[" + body + b"]"
