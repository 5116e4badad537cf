"""Recorded vendor transcripts under ``tests/fixtures/conformance/<format>/``, read and
framed the way each vendor puts them on the wire (see that directory's SOURCES.md).

* ``.json``        a complete response or error body;
* ``.sse``         SSE bytes exactly as recorded (frames split on blank lines);
* ``.chunks.txt`` / ``.events.txt``  one SSE ``data:`` payload per line, framed here:
  OpenAI chat ``data: <json>`` (+ ``data: [DONE]``), Gemini ``data: <json>`` with CRLF,
  Anthropic and Responses ``event: <type>`` + ``data: <json>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "conformance"


def path(vendor: str, name: str) -> Path:
    return FIXTURES / vendor / name


def load_json(vendor: str, name: str) -> Any:
    return orjson.loads(path(vendor, name).read_bytes())


def payloads(vendor: str, name: str) -> list[Any]:
    """The JSON payloads of a ``.chunks.txt`` / ``.events.txt`` file, in order."""
    return [orjson.loads(line) for line in path(vendor, name).read_bytes().splitlines() if line.strip()]


def sse_frames(vendor: str, name: str) -> list[bytes]:
    """The frames of a recorded ``.sse`` file, each ending in a blank line."""
    raw = path(vendor, name).read_bytes().replace(b"\r\n", b"\n")
    return [block.strip(b"\n") + b"\n\n" for block in raw.split(b"\n\n") if block.strip()]


def sse_payloads(vendor: str, name: str) -> list[Any]:
    """The JSON ``data:`` payloads of a recorded ``.sse`` file (``[DONE]`` left out)."""
    out: list[Any] = []
    for frame in sse_frames(vendor, name):
        for line in frame.splitlines():
            if line.startswith(b"data:"):
                data = line[5:].strip()
                if data != b"[DONE]":
                    out.append(orjson.loads(data))
    return out


def data_frames(items: list[Any], *, crlf: bool = False, done: bool = False) -> list[bytes]:
    end = b"\r\n\r\n" if crlf else b"\n\n"
    frames = [b"data: " + orjson.dumps(item) + end for item in items]
    if done:
        frames.append(b"data: [DONE]" + end)
    return frames


def event_frames(items: list[Any]) -> list[bytes]:
    """``event: <type>`` + ``data: <json>`` frames, the event name being the JSON ``type``."""
    return [b"event: " + str(item["type"]).encode() + b"\ndata: " + orjson.dumps(item) + b"\n\n" for item in items]
