"""A scriptable, vendor-agnostic fake upstream: a real HTTP server on 127.0.0.1.

It runs aiohttp in a background thread with its own event loop, so tests (sync or async)
and the gateway process talk to it over real TCP. Tests script replies per model and
read back every request it received::

    with FakeUpstream() as fake:
        fake.script("upstream-small", Status(500), Status(500))
        ...  # point a channel at fake.base_url
        assert [r.model for r in fake.requests] == ["upstream-small", "upstream-small"]

Replies are matched by the ``model`` field of a JSON body, or by ``/models/{model}`` in
the path (Gemini style), falling back to the default queue (``model=None``). With nothing
scripted it behaves like a tiny OpenAI-compatible server that echoes the last user
message (streamed when asked, with the usage chunk when ``stream_options.include_usage``).

Clocks: every timestamp is ``time.monotonic()`` of the test process.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.support import openai_wire
from tests.support.background_server import BackgroundServer, ServedFake, wait_for_arrivals
from tests.support.replies import Cut, Hang, Json, Reply, Status, Stream

_PATH_MODEL = re.compile(r"/models/([^/:]+)")
_WORD = re.compile(r"\S+\s*")


@dataclass(slots=True)
class Received:
    """One request the fake received, and what became of its reply."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any  # the parsed body, None when it was not JSON
    model: str | None
    received_at: float
    reply: str = "default"  # the reply type played
    frames_sent: int = 0
    finished_at: float | None = None  # the reply was sent completely
    closed_at: float | None = None  # the client went away before the reply was complete
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def disconnected(self) -> bool:
        return self.closed_at is not None


class FakeUpstream(ServedFake):
    def __init__(self, prefix: str = "/v1") -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self._queues: dict[str | None, deque[Reply]] = {}
        self._always: dict[str | None, Reply] = {}
        self._received: list[Received] = []
        self._arrived = threading.Condition(self._lock)
        self._server = BackgroundServer(self._handle, "fake-upstream")

    @property
    def base_url(self) -> str:
        """The URL a channel's ``base_url`` points at, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}{self._prefix}"

    # -- scripting ---------------------------------------------------------------------

    def script(self, model: str | None, *replies: Reply) -> None:
        """Queue replies, played once each in order, for requests naming ``model``
        (``None``: the default queue, used when a model has nothing queued)."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(replies)

    def always(self, model: str | None, reply: Reply) -> None:
        """Play ``reply`` for every request naming ``model`` once its queue is empty."""
        with self._lock:
            self._always[model] = reply

    def reset(self) -> None:
        """Forget scripts and recorded requests."""
        with self._lock:
            self._queues.clear()
            self._always.clear()
            self._received.clear()

    def pending(self) -> int:
        """Scripted replies not played yet."""
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def _next_reply(self, model: str | None) -> Reply | None:
        with self._lock:
            for key in (model, None):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
            for key in (model, None):
                if key in self._always:
                    return self._always[key]
        return None

    # -- recordings --------------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def requests_for(self, model: str) -> list[Received]:
        return [r for r in self.requests if r.model == model]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; raise after ``timeout``."""
        return wait_for_arrivals(self._arrived, self._received, lambda r: True, count, timeout, "fake upstream")

    def _record(self, entry: Received) -> None:
        with self._arrived:
            self._received.append(entry)
            self._arrived.notify_all()

    # -- server ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        entry = Received(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=raw,
            json=parsed,
            model=_model_of(request.path, parsed),
            received_at=time.monotonic(),
        )
        self._record(entry)
        reply = self._next_reply(entry.model)
        entry.reply = "default" if reply is None else type(reply).__name__
        try:
            response = await self._play(request, entry, reply)
            return response
        except asyncio.CancelledError:
            entry.closed_at = time.monotonic()
            raise
        finally:
            entry.done.set()

    async def _play(self, request: web.Request, entry: Received, reply: Reply | None) -> web.StreamResponse:
        if reply is None:
            reply = _default_reply(request.method, request.path, entry.json)
        if isinstance(reply, (Json, Status)):
            status = reply.status if isinstance(reply, Json) else reply.code
            response = web.Response(
                status=status, body=reply.payload(), content_type="application/json", headers=dict(reply.headers)
            )
            entry.finished_at = time.monotonic()
            return response
        if isinstance(reply, (Stream, Cut)):
            return await _send_frames(request, entry, reply)
        if isinstance(reply, Hang):
            await asyncio.sleep(reply.seconds)
            _drop(request, reset=False)
            return web.Response(status=500)
        _drop(request, reset=True)
        return web.Response(status=500)


async def _send_frames(request: web.Request, entry: Received, reply: Stream | Cut) -> web.StreamResponse:
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **reply.headers}
    response = web.StreamResponse(status=200, headers=headers)
    await response.prepare(request)
    try:
        for index, frame in enumerate(reply.frames):
            if index and reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            await response.write(frame)
            entry.frames_sent += 1
        if isinstance(reply, Cut):
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            _drop(request, reset=False)
            return response
        await response.write_eof()
    except ConnectionResetError:
        entry.closed_at = time.monotonic()
        return response
    entry.finished_at = time.monotonic()
    return response


def _drop(request: web.Request, *, reset: bool) -> None:
    """Close the connection without completing a response; ``reset`` sends a TCP RST."""
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


def _model_of(path: str, body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        return str(body["model"])
    match = _PATH_MODEL.search(path)
    return match.group(1) if match else None


def _default_reply(method: str, path: str, body: Any) -> Reply:
    """A tiny OpenAI-compatible server: echo chat completions, list no models."""
    if method == "GET" and path.endswith("/models"):
        return Json(200, {"object": "list", "data": []})
    if method != "POST" or not path.endswith("/chat/completions") or not isinstance(body, dict):
        message = f"fake upstream has no route for {method} {path}"
        return Status(404, openai_wire.error_body(message, code="not_found"))
    model = str(body.get("model", "unknown"))
    text = openai_wire.last_user_text(body) or "ok"
    prompt_tokens = max(1, len(text.split()))
    if body.get("stream") is True:
        options = body.get("stream_options")
        include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
        pieces = _WORD.findall(text) or [text]
        frames = openai_wire.stream_frames(pieces, model, include_usage=include_usage, prompt_tokens=prompt_tokens)
        return Stream(frames)
    return Json(200, openai_wire.completion(text, model, prompt_tokens=prompt_tokens))
