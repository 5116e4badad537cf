"""The recorded Responses API streams and bodies in ``tests/fixtures/openai_responses``.

``.chunks.txt`` files hold one SSE ``data:`` payload per line; the event name equals the
payload's ``type``. One file may hold several streams back to back (each begins with
``response.created``); ``recorded_streams`` splits them and names the n-th ``file#n``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai_responses"


def sse(payloads: list[dict[str, Any]]) -> bytes:
    """The payloads framed the way the API sends them (``event:`` + ``data:``)."""
    return b"".join(b"event: " + str(p["type"]).encode() + b"\ndata: " + orjson.dumps(p) + b"\n\n" for p in payloads)


def recorded_streams() -> dict[str, list[dict[str, Any]]]:
    streams: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(FIXTURES.glob("*.chunks.txt")):
        stem = path.name.removesuffix(".chunks.txt")
        current: list[dict[str, Any]] = []
        count = 0
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            payload = orjson.loads(line)
            if payload["type"] == "response.created":
                count += 1
                current = streams.setdefault(stem if count == 1 else f"{stem}#{count}", [])
            current.append(payload)
    return streams


def load_json(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def load_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()
