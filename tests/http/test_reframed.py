"""A committed stream reframed for a client that asked for another framing than SSE: its
bytes go through the reframer, the closing bytes follow the last frame, and closing the
reframed body early closes the stream under it (the upstream call and its accounting)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson

from engine.http.reframed import reframed
from providers.gemini.json_array import JsonArrayStream


async def test_the_stream_becomes_one_whole_document() -> None:
    async def rest() -> AsyncGenerator[bytes, None]:
        yield b'data: {"n":2}\n\n'
        yield b'data: {"error":{"code":502}}\n\n'

    first, body = reframed(JsonArrayStream(), b'data: {"n":1}\n\n', rest())
    out = first + b"".join([piece async for piece in body])
    assert orjson.loads(out) == [{"n": 1}, {"n": 2}, {"error": {"code": 502}}]


async def test_closing_the_reframed_body_closes_the_stream_under_it() -> None:
    closed: list[bool] = []

    async def rest() -> AsyncGenerator[bytes, None]:
        try:
            for n in range(2, 100):
                yield b'data: {"n":%d}\n\n' % n
        finally:
            closed.append(True)

    first, body = reframed(JsonArrayStream(), b'data: {"n":1}\n\n', rest())
    assert first == b'[{"n":1}'
    assert await anext(body) == b'\n,{"n":2}'
    await body.aclose()  # the client went away
    assert closed == [True]
