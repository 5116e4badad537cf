"""An in-process ``Transports`` for executor tests: scripted replies per upstream model.

The executor's seam (``engine.routing.transport.Transports``) played from a script, with
no network, so retry, fallback and breaker decisions run in milliseconds::

    transport = ScriptedTransport()
    transport.script("alpha-small", Status(500), Status(429, retry_after=2))
    transport.script("beta-small", Json(openai_wire.completion("hi", "beta-small")))
    ...  # Executor(transport, health, sleep=clock.sleep)
    assert transport.models() == ["alpha-small", "alpha-small", "beta-small"]

Replies are matched by the ``model`` field of the upstream request body (or
``/models/{model}`` in the URL, Gemini style) and played once each, in order; ``always``
sets a reply for when a model's queue is empty. A request with nothing scripted fails
the test (``AssertionError``). Bodies are the vendor's own wire bytes, so the exchange
decodes and classifies them for real:

* ``Status``  an error status; without a ``body`` the vendor's error envelope for the
              request's endpoint (OpenAI chat / Responses, Anthropic Messages);
              ``retry_after`` is sent as a ``Retry-After`` header.
* ``Json``    a whole JSON answer (any status).
* ``Sse``     a 200 event stream, one chunk per frame, with optional pauses; ``cut`` drops
              the connection after the frames. In-band error events are frames (see
              ``openai_wire`` / ``anthropic_wire``).
* ``Raise``   ``send`` / ``fetch`` raise this ``UpstreamError`` (a refused connection...).
* ``Hang``    never answers: a stream gets its headers (200) and then silence, so the
              executor's first-byte deadline ends it; a whole answer gets no headers.

What the real transport (``HttpTransports``) guarantees is kept: every failure is an
``UpstreamError``, with its messages; a whole answer's headers are due within the
first-byte deadline, a stream silent for ``idle`` seconds fails with ``timeout``, and a
dropped connection is ``stream_cut``. (The total deadline is not played.)
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from engine.errors import UpstreamError
from engine.policy.compiled import Timeouts
from providers.base import UpstreamRequest
from tests.support import anthropic_wire, replies

_PATH_MODEL = re.compile(r"/models/([^/:]+)")


@dataclass(frozen=True, slots=True)
class Status:
    code: int
    body: Any = None  # JSON-able; None: the vendor's error envelope for the request's endpoint
    retry_after: float | None = None  # seconds, sent as Retry-After
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Json:
    body: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sse:
    frames: Sequence[bytes]
    delay_s: float | Sequence[float] = 0.0  # before every frame after the first, or one per frame
    cut: bool = False  # the connection drops after the frames (no clean end)


@dataclass(frozen=True, slots=True)
class Raise:
    error: UpstreamError


@dataclass(frozen=True, slots=True)
class Hang:
    pass


Reply = Status | Json | Sse | Raise | Hang


@dataclass(slots=True)
class Received:
    """One request the transport received."""

    model: str | None
    url: str
    headers: Mapping[str, str]
    body: Any  # the parsed JSON body (None when it was not JSON)
    stream: bool  # came through ``send`` (True) or ``fetch``
    timeouts: Timeouts
    at: float  # the transport's clock when it arrived
    reply: str = ""  # the reply type played
    closed: bool = False  # the caller closed the response (or read it to its end)


def vendor_of(url: str) -> str:
    """The wire format an upstream URL speaks (by its endpoint path)."""
    if url.endswith("/chat/completions"):
        return "openai"
    if url.endswith("/responses"):
        return "openai-responses"
    if url.endswith("/messages"):
        return "anthropic"
    if ":generateContent" in url or ":streamGenerateContent" in url:
        return "gemini"
    return "unknown"


def error_payload(url: str, status: int) -> bytes:
    """The error body the vendor behind ``url`` sends with ``status``."""
    vendor = vendor_of(url)
    if vendor in ("openai", "openai-responses"):
        return replies.Status(status).payload()
    if vendor == "anthropic":
        return orjson.dumps(anthropic_wire.status_error_body(status))
    raise AssertionError(f"no default error body for {url}: give Status a body")


class ScriptedResponse:
    """An ``UpstreamResponse`` played from a reply."""

    def __init__(self, status: int, headers: Mapping[str, str], reply: Reply, body: bytes, received: Received) -> None:
        self.status = status
        self.headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(headers))
        self._reply = reply
        self._body = body
        self._received = received

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        reply, idle = self._reply, self._received.timeouts.idle
        try:
            if isinstance(reply, Hang):
                await _silence(idle, float("inf"))
            elif isinstance(reply, Sse):
                for pause, frame in zip(_pauses(reply), reply.frames, strict=True):
                    await _silence(idle, pause)
                    yield frame
                if reply.cut:
                    raise UpstreamError("stream_cut", "upstream connection failed mid-response: ClientPayloadError")
            elif self._body:
                yield self._body
        finally:
            self.close()

    async def read(self) -> bytes:
        self.close()
        return self._body

    def close(self) -> None:
        self._received.closed = True


class ScriptedTransport:
    """``Transports`` from a script; ``requests`` lists what it received, in order."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._queues: dict[str | None, deque[Reply]] = {}
        self._always: dict[str | None, Reply] = {}
        self.requests: list[Received] = []

    def script(self, model: str | None, *replies: Reply) -> None:
        """Queue replies for requests naming ``model`` (None: any model with nothing queued)."""
        self._queues.setdefault(model, deque()).extend(replies)

    def always(self, model: str | None, reply: Reply) -> None:
        """Play ``reply`` for every request naming ``model`` once its queue is empty."""
        self._always[model] = reply

    def pending(self) -> int:
        """Scripted replies not played yet."""
        return sum(len(queue) for queue in self._queues.values())

    def models(self) -> list[str | None]:
        """The upstream model of every request received, in order."""
        return [r.model for r in self.requests]

    def requests_for(self, model: str) -> list[Received]:
        return [r for r in self.requests if r.model == model]

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> ScriptedResponse:
        received, reply = self._receive(request, timeouts, stream=True)
        if isinstance(reply, Raise):
            raise reply.error
        if isinstance(reply, Hang | Sse):
            return ScriptedResponse(200, {"Content-Type": "text/event-stream"}, reply, b"", received)
        status, headers, body = _whole(request, reply)
        return ScriptedResponse(status, headers, reply, body, received)

    async def fetch(self, request: UpstreamRequest, timeouts: Timeouts) -> tuple[int, Mapping[str, str], bytes, float]:
        received, reply = self._receive(request, timeouts, stream=False)
        if isinstance(reply, Raise):
            raise reply.error
        if isinstance(reply, Hang):
            first_byte = min(timeouts.first_byte, timeouts.total)
            await asyncio.sleep(first_byte)
            raise UpstreamError("timeout", f"no response headers within {first_byte:g}s", deadline="first_byte")
        received.closed = True
        if isinstance(reply, Sse):  # a stream answering a request that asked for none: its bytes as they are
            status, headers, body = 200, {"Content-Type": "text/event-stream"}, b"".join(reply.frames)
        else:
            status, headers, body = _whole(request, reply)
        return status, CIMultiDictProxy(CIMultiDict(headers)), body, 0.0

    def _receive(self, request: UpstreamRequest, timeouts: Timeouts, *, stream: bool) -> tuple[Received, Reply]:
        try:
            body: Any = orjson.loads(request.body) if request.body else None
        except orjson.JSONDecodeError:
            body = None
        model = _model_of(request.url, body)
        received = Received(model, request.url, dict(request.headers), body, stream, timeouts, self._clock())
        self.requests.append(received)
        reply = self._next(model)
        if reply is None:
            raise AssertionError(f"nothing scripted for upstream model {model!r} ({request.url})")
        received.reply = type(reply).__name__
        return received, reply

    def _next(self, model: str | None) -> Reply | None:
        for key in (model, None):
            queue = self._queues.get(key)
            if queue:
                return queue.popleft()
        for key in (model, None):
            if key in self._always:
                return self._always[key]
        return None


def _whole(request: UpstreamRequest, reply: Status | Json) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", **reply.headers}
    if isinstance(reply, Json):
        return reply.status, headers, orjson.dumps(reply.body)
    if reply.retry_after is not None:
        headers["Retry-After"] = f"{reply.retry_after:g}"
    body = error_payload(request.url, reply.code) if reply.body is None else orjson.dumps(reply.body)
    return reply.code, headers, body


def _pauses(reply: Sse) -> list[float]:
    if isinstance(reply.delay_s, int | float):
        return [0.0 if index == 0 else float(reply.delay_s) for index in range(len(reply.frames))]
    return [float(d) for d in reply.delay_s]


async def _silence(idle: float, seconds: float) -> None:
    """Wait ``seconds`` of upstream silence; past ``idle`` the transport gives up."""
    if seconds <= 0:
        return
    if seconds > idle:
        await asyncio.sleep(idle)
        raise UpstreamError("timeout", f"upstream went silent for {idle:.1f}s mid-response", deadline="idle")
    await asyncio.sleep(seconds)


def _model_of(url: str, body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        return str(body["model"])
    match = _PATH_MODEL.search(url)
    return match.group(1) if match else None
