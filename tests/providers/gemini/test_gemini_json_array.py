"""Gemini streams reframed as the REST default (no ``alt=sse``): one JSON array, each SSE
frame's object an element, written as the frames come; errors end it well-formed."""

from __future__ import annotations

import orjson
import pytest

from engine.errors import GatewayError, UpstreamError
from providers.base import StreamReframing
from providers.gemini.codec import GeminiCodec
from providers.gemini.json_array import JsonArrayStream, error_array
from providers.gemini.passthrough import GeminiPassthrough
from providers.registry import build_registry
from tests.providers.gemini.gemini_helpers import chunk_lines, sse_bytes

RECORDINGS = ["google-text.chunks.txt", "google-tool-call.chunks.txt", "google-reasoning-gemini3.chunks.txt"]


def _reframe(frames: bytes, step: int) -> list[bytes]:
    """The pieces a reframer writes for ``frames`` fed ``step`` bytes at a time."""
    array = JsonArrayStream()
    pieces = [array.feed(frames[i : i + step]) for i in range(0, len(frames), step)]
    pieces.append(array.close())
    return [p for p in pieces if p]


@pytest.mark.parametrize("name", RECORDINGS)
@pytest.mark.parametrize("step", [1, 7, 10_000])
def test_a_relayed_recording_becomes_the_array_of_its_chunks(name: str, step: int) -> None:
    relay = GeminiPassthrough().stream("public-model", client_wants_usage=False)
    raw = sse_bytes(name)
    frames = b"".join(relay.feed(raw[i : i + step]) for i in range(0, len(raw), step)) + relay.close()
    expected = [orjson.loads(line) | {"modelVersion": "public-model"} for line in chunk_lines(name)]
    pieces = _reframe(frames, step)
    body = b"".join(pieces)
    assert orjson.loads(body) == expected
    assert body.startswith(b"[{") and body.endswith(b"}\n]")
    assert body.count(b"\n,") == len(expected) - 1
    if step == 1:  # every piece that carries an element starts it (or the array)
        assert all(p.startswith((b"[", b"\n,", b"\n]")) or not p.strip() for p in pieces), pieces[:3]


def test_each_element_is_written_as_soon_as_its_frame_is_whole() -> None:
    array = JsonArrayStream()
    assert array.feed(b'data: {"a":') == b""
    assert array.feed(b"1}\n\n") == b'[{"a":1}'
    assert array.feed(b'data: {"b":2}\r\n\r\ndata: {"c":3}\n\n: a comment\n\n') == b'\n,{"b":2}\n,{"c":3}'
    assert array.close() == b"\n]"
    assert array.close() == b""  # closed once


def test_an_error_mid_stream_is_the_last_element_and_the_array_is_closed() -> None:
    codec = GeminiCodec()
    encoder = codec.stream_encoder(
        codec.decode_request({"contents": [{"parts": [{"text": "hi"}]}]}, model="m", stream=True)
    )
    frames = sse_bytes("google-text.chunks.txt").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    error = encoder.error(UpstreamError("stream_cut", "upstream stream ended before its end"))
    array = JsonArrayStream()
    body = array.feed(frames) + array.feed(error) + array.close()
    *chunks, last = orjson.loads(body)
    assert len(chunks) == 1 and "candidates" in chunks[0]
    assert set(last) == {"error"} and last["error"]["code"] == 502 and last["error"]["status"]


def test_a_stream_with_no_frame_is_an_empty_array() -> None:
    array = JsonArrayStream()
    assert array.feed(b"") == b""
    assert orjson.loads(array.close()) == []


def test_an_error_body_before_the_stream_is_a_one_element_array() -> None:
    body = GeminiCodec().encode_error(GatewayError("no", status=429, kind="rate_limited"))
    assert orjson.loads(error_array(body)) == [orjson.loads(body)]


def test_the_gemini_codec_is_the_one_format_with_the_capability() -> None:
    registry = build_registry()
    reframing = registry.stream_reframing("gemini")
    assert isinstance(reframing, GeminiCodec)
    capability: StreamReframing = reframing  # type-checked against the protocol
    assert capability.stream_media_type == "application/json"
    assert [f for f in ("openai", "openai-responses", "anthropic") if registry.stream_reframing(f)] == []
