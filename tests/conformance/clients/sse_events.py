"""Raw SSE bodies as ``(event name, data)`` pairs, with the gateway's own parser."""

from __future__ import annotations

from engine.sse import SSEParser


def read_events(raw: bytes) -> list[tuple[str | None, str]]:
    parser = SSEParser()
    return [(event.event, event.data) for event in parser.feed(raw)]
