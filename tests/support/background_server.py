"""An aiohttp request handler served on 127.0.0.1 from a background thread.

The thread runs its own event loop, so sync tests, async tests and a gateway child process
all reach the server over real TCP. ``handler_cancellation`` is on: a handler whose client
goes away is cancelled, which is how a server notices an abandoned request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol, Self, TypeVar

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BackgroundServer:
    def __init__(self, handler: Handler, name: str = "background-server") -> None:
        self._handler = handler
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0

    def start(self) -> int:
        """Serve on a free port; return it once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self._name} did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"{self._name} failed to start: {self._error!r}")
        return self.port

    def stop(self) -> None:
        """Close the listener and every open connection (handlers are cancelled)."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is None or stop is None or thread is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() when it happens before ready
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handler)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()


class ServedFake:
    """The lifecycle every fake upstream shares: a ``BackgroundServer`` in ``self._server``,
    started and stopped by ``start``/``stop`` or as a context manager, on ``port``."""

    _server: BackgroundServer

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.port


class _Finishing(Protocol):
    done: threading.Event


T = TypeVar("T")
F = TypeVar("F", bound=_Finishing)


def wait_for_arrivals(
    arrived: threading.Condition, received: list[T], keep: Callable[[T], bool], count: int, timeout: float, what: str
) -> list[T]:
    """Block on ``arrived`` (notified as each request is recorded in ``received``) until
    ``count`` of them pass ``keep``; return those. After ``timeout`` seconds, raise
    ``AssertionError("<what> got N requests, expected <count>")``."""
    deadline = time.monotonic() + timeout
    with arrived:
        while True:
            got = [r for r in received if keep(r)]
            if len(got) >= count:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{what} got {len(got)} requests, expected {count}")
            arrived.wait(left)


def wait_until_done(requests: list[F], timeout: float, describe: Callable[[F], str]) -> list[F]:
    """Block until every request's ``done`` is set; ``describe`` names one still open."""
    deadline = time.monotonic() + timeout
    for entry in requests:
        if not entry.done.wait(max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"{describe(entry)} still open after {timeout:g} s")
    return requests
