"""Upstream bytes as the same-format passthroughs read them: JSON objects, and the last
event of a stream that ended without its blank line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from engine.errors import UpstreamError
from engine.sse import SSEParser


def upstream_object(raw: bytes | str, what: str) -> dict[str, Any]:
    """``raw`` as the JSON object an upstream must send (``what``: "a response", "a stream
    chunk"...); ``UpstreamError("server")`` saying what it was instead."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError("server", f"upstream sent {what} that is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamError("server", f"upstream sent {what} that is not a JSON object")
    return data


def flush_last_event(parser: SSEParser, feed: Callable[[bytes], bytes]) -> bytes:
    """At the upstream's end of stream: the frames of a last event it did not end with a
    blank line (relayed by ``feed``); an event cut short is ``stream_cut``."""
    if not parser.pending:
        return b""
    try:
        return feed(b"\n\n")
    except UpstreamError as err:
        if err.failure != "server":
            raise
        raise UpstreamError("stream_cut", "upstream stream ended inside an event") from None
