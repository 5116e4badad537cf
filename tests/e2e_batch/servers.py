"""The local servers of the batch tests: an OpenAI-compatible upstream that echoes each
request's last user message after a pause and counts what it received, and a callback
receiver that keeps every POST (body and headers) it got."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from tests.support import openai_wire
from tests.support.background_server import BackgroundServer

PROMPT_TOKENS, COMPLETION_TOKENS = 1000, 500  # what the upstream reports for every call


class EchoUpstream:
    """``POST /v1/chat/completions``: waits ``delay`` seconds, then answers the last user
    message back (usage ``PROMPT_TOKENS`` / ``COMPLETION_TOKENS``). ``fail`` holds user
    messages answered with a 400 instead."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.fail: set[str] = set()
        self._lock = threading.Lock()
        self._received: Counter[str] = Counter()
        self._in_flight = 0
        self.most_in_flight = 0
        self._server = BackgroundServer(self._handle, "echo-upstream")

    def __enter__(self) -> EchoUpstream:
        self._server.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/v1"

    def received(self) -> Counter[str]:
        """How many times each user message arrived."""
        with self._lock:
            return Counter(self._received)

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self.most_in_flight = 0
        self.fail.clear()
        self.delay = 0.0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        text = openai_wire.last_user_text(body) or ""
        with self._lock:
            self._received[text] += 1
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            with self._lock:
                self._in_flight -= 1
        if text in self.fail:
            return web.json_response(openai_wire.error_body(f"refused: {text}", code="bad_input"), status=400)
        answer = openai_wire.completion(
            f"echo: {text}", str(body["model"]), prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS
        )
        return web.json_response(answer)


@dataclass(slots=True)
class Delivery:
    body: bytes
    headers: dict[str, str]


@dataclass(slots=True)
class CallbackReceiver:
    """Answers ``status`` (one per call from ``statuses`` first, then 200) and keeps every POST."""

    statuses: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: BackgroundServer | None = None

    def __enter__(self) -> CallbackReceiver:
        self._server = BackgroundServer(self._handle, "callback-receiver")
        self._server.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/hook"

    def received(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.deliveries.append(Delivery(body, {k.lower(): v for k, v in request.headers.items()}))
            status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")


def json_of(delivery: Delivery) -> Any:
    return orjson.loads(delivery.body)
