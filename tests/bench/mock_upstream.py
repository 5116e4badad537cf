"""A fast local OpenAI-compatible upstream for the benchmarks (a server, not a test).

Answers ``POST .../chat/completions`` with precomputed bytes: a ``chat.completion`` JSON
body, or an SSE stream shaped like the recorded OpenAI streams (role chunk, N content
chunks, finish chunk, the usage chunk when ``stream_options.include_usage`` is true, then
``data: [DONE]``), with an optional delay between frames.

The stream shape is chosen by the request's ``model``, so it survives the gateway's model
rewrite: ``mock`` uses the server defaults, ``mock-c32`` sends 32 content chunks,
``mock-c32-d5`` also waits 5 ms between frames (``d0.5`` for half a millisecond).

``GET /stats`` reports how many requests, streams and SSE frames it has sent;
``POST /stats/reset`` zeroes them; ``GET /healthz`` answers ``ok``.

Three servers, same behaviour: ``granian-rsgi`` (default: the fastest measured here),
``granian-asgi`` (a raw ASGI callable) and ``aiohttp`` (``aiohttp.web``)::

    python -m tests.bench.mock_upstream --port 9100 [--server granian-rsgi] [--chunks 16] [--delay-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

MODEL_SHAPE = re.compile(r"-c(?P<chunks>\d+)(?:-d(?P<delay>\d+(?:\.\d+)?))?$")
SERVERS = ("granian-rsgi", "granian-asgi", "aiohttp")
JSON_HEADERS = [("content-type", "application/json")]
SSE_HEADERS = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
PROMPT_TOKENS = 16


@dataclass(frozen=True, slots=True)
class Defaults:
    chunks: int = 16
    delay_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Reply:
    """What one request shape gets back: a JSON body, or SSE frames and the pause between them."""

    body: bytes
    frames: tuple[bytes, ...]
    delay_s: float


@dataclass(slots=True)
class Stats:
    requests: int = 0
    streams: int = 0
    frames: int = 0

    def as_json(self) -> bytes:
        return orjson.dumps({"requests": self.requests, "streams": self.streams, "frames": self.frames})


def _completion(model: str, chunks: int) -> bytes:
    text = "".join(f"w{i} " for i in range(chunks))
    return orjson.dumps(
        {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 1770933883,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": chunks,
                "total_tokens": PROMPT_TOKENS + chunks,
            },
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
        }
    )


def _frames(model: str, chunks: int, include_usage: bool) -> tuple[bytes, ...]:
    head: dict[str, Any] = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1770933892,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    }

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        payload = {**head, "choices": [choice], **({"usage": None} if include_usage else {})}
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    frames = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    frames += [chunk({"content": f"w{i} "}, None) for i in range(chunks)]
    frames.append(chunk({}, "stop"))
    if include_usage:
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": chunks, "total_tokens": PROMPT_TOKENS + chunks}
        frames.append(b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return tuple(frames)


def expected_frames(chunks: int, include_usage: bool) -> int:
    """SSE frames (``[DONE]`` included) the mock sends for a stream of ``chunks`` content chunks."""
    return chunks + 3 + (1 if include_usage else 0)


class MockUpstream:
    """The behaviour, shared by the three servers: request bytes in, a ``Reply`` out."""

    def __init__(self, defaults: Defaults) -> None:
        self.defaults = defaults
        self.stats = Stats()
        self._replies: dict[tuple[str, bool, bool], Reply] = {}
        self._embeddings: dict[tuple[bool, int], bytes] = {}

    def reply(self, body: bytes) -> Reply:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            request = {}
        model = request.get("model")
        model = model if isinstance(model, str) else "mock"
        stream = request.get("stream") is True
        options = request.get("stream_options")
        usage = stream and isinstance(options, dict) and options.get("include_usage") is True
        key = (model, stream, usage)
        found = self._replies.get(key)
        if found is None:
            found = self._replies[key] = self._build(model, stream, usage)
        self.stats.requests += 1
        if stream:
            self.stats.streams += 1
        return found

    def embeddings(self, body: bytes) -> bytes:
        """``POST .../embeddings``: one 1,536-dimension vector per input (precomputed per
        input count and encoding), usage counting four tokens per input."""
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = {}
        given = request.get("input") if isinstance(request, dict) else None
        count = len(given) if isinstance(given, list) and given and not isinstance(given[0], int) else 1
        as_base64 = isinstance(request, dict) and request.get("encoding_format") == "base64"
        key = (as_base64, count)
        found = self._embeddings.get(key)
        if found is None:
            vector = [round((i % 97) / 97 - 0.5, 6) for i in range(1536)]
            packed = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data = [
                {"object": "embedding", "index": i, "embedding": packed if as_base64 else vector} for i in range(count)
            ]
            usage = {"prompt_tokens": 4 * count, "total_tokens": 4 * count}
            answer = {"object": "list", "data": data, "model": "mock-embed", "usage": usage}
            found = self._embeddings[key] = orjson.dumps(answer)
        self.stats.requests += 1
        return found

    def _build(self, model: str, stream: bool, usage: bool) -> Reply:
        chunks, delay_ms = self.defaults.chunks, self.defaults.delay_ms
        shape = MODEL_SHAPE.search(model)
        if shape is not None:
            chunks = int(shape["chunks"])
            if shape["delay"] is not None:
                delay_ms = float(shape["delay"])
        if not stream:
            return Reply(_completion(model, chunks), (), 0.0)
        return Reply(b"", _frames(model, chunks, usage), delay_ms / 1000)


def _defaults_from_env() -> Defaults:
    return Defaults(int(os.environ.get("MOCK_CHUNKS", "16")), float(os.environ.get("MOCK_DELAY_MS", "0")))


# --- Granian RSGI ------------------------------------------------------------------------


class RSGIApp:
    def __init__(self, mock: MockUpstream) -> None:
        self.mock = mock

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        body: bytes = await proto()
        path: str = scope.path
        if scope.method == "GET":
            if path == "/stats":
                proto.response_bytes(200, JSON_HEADERS, self.mock.stats.as_json())
            else:
                proto.response_bytes(200 if path == "/healthz" else 404, JSON_HEADERS, b'"ok"')
            return
        if path == "/stats/reset":
            self.mock.stats = Stats()
            proto.response_bytes(200, JSON_HEADERS, b"{}")
            return
        if path.endswith("/embeddings"):  # the default (RSGI) server only: bench_embeddings
            proto.response_bytes(200, JSON_HEADERS, self.mock.embeddings(body))
            return
        if not path.endswith("/chat/completions"):
            proto.response_bytes(404, JSON_HEADERS, b'{"error":{"message":"not found"}}')
            return
        reply = self.mock.reply(body)
        if not reply.frames:
            proto.response_bytes(200, JSON_HEADERS, reply.body)
            return
        transport = proto.response_stream(200, SSE_HEADERS)
        stats = self.mock.stats
        for index, frame in enumerate(reply.frames):
            if index and reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            await transport.send_bytes(frame)
            stats.frames += 1


def rsgi_app() -> RSGIApp:
    """Granian factory (RSGI)."""
    return RSGIApp(MockUpstream(_defaults_from_env()))


# --- Granian ASGI ------------------------------------------------------------------------

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ASGIApp:
    def __init__(self, mock: MockUpstream) -> None:
        self.mock = mock

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        path: str = scope["path"]
        if scope["method"] == "GET":
            if path == "/stats":
                await self._bytes(send, 200, self.mock.stats.as_json())
            else:
                await self._bytes(send, 200 if path == "/healthz" else 404, b'"ok"')
            return
        if path == "/stats/reset":
            self.mock.stats = Stats()
            await self._bytes(send, 200, b"{}")
            return
        if not path.endswith("/chat/completions"):
            await self._bytes(send, 404, b'{"error":{"message":"not found"}}')
            return
        reply = self.mock.reply(b"".join(parts))
        if not reply.frames:
            await self._bytes(send, 200, reply.body)
            return
        raw = [(k.encode(), v.encode()) for k, v in SSE_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        stats = self.mock.stats
        for index, frame in enumerate(reply.frames):
            if index and reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            stats.frames += 1
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _bytes(send: Send, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def asgi_app() -> ASGIApp:
    """Granian factory (ASGI)."""
    return ASGIApp(MockUpstream(_defaults_from_env()))


# --- aiohttp.web -------------------------------------------------------------------------


def run_aiohttp(host: str, port: int, mock: MockUpstream) -> None:
    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        reply = mock.reply(await request.read())
        if not reply.frames:
            return web.Response(body=reply.body, content_type="application/json")
        response = web.StreamResponse(headers=dict(SSE_HEADERS))
        await response.prepare(request)
        for index, frame in enumerate(reply.frames):
            if index and reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            await response.write(frame)
            mock.stats.frames += 1
        await response.write_eof()
        return response

    async def stats(request: web.Request) -> web.Response:
        return web.Response(body=mock.stats.as_json(), content_type="application/json")

    async def reset(request: web.Request) -> web.Response:
        mock.stats = Stats()
        return web.Response(body=b"{}", content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(body=b'"ok"', content_type="application/json")

    app = web.Application()
    app.router.add_post("/{prefix:.*}chat/completions", chat)
    app.router.add_get("/stats", stats)
    app.router.add_post("/stats/reset", reset)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host=host, port=port, print=None, access_log=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=SERVERS, default="granian-rsgi")
    parser.add_argument("--chunks", type=int, default=16, help="content chunks per stream (default 16)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="pause between SSE frames (default 0)")
    args = parser.parse_args()
    os.environ["MOCK_CHUNKS"] = str(args.chunks)
    os.environ["MOCK_DELAY_MS"] = str(args.delay_ms)
    if args.server == "aiohttp":
        run_aiohttp(args.host, args.port, MockUpstream(_defaults_from_env()))
        return
    from granian import Granian
    from granian.constants import Interfaces

    rsgi = args.server == "granian-rsgi"
    Granian(
        f"{__spec__.name if __spec__ else 'mock_upstream'}:{'rsgi_app' if rsgi else 'asgi_app'}",
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI if rsgi else Interfaces.ASGI,
        workers=1,
        factory=True,
        log_enabled=False,
        backlog=2048,
    ).serve()


if __name__ == "__main__":
    main()
