"""Single-flight loading: concurrent callers asking for the same missing item share one load.

Without it, a burst of requests for a key or account not cached yet would each query the
database. A failed load is not remembered; the next caller tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        running = self._running.get(key)
        if running is None:

            async def call() -> V:
                return await load()

            running = asyncio.ensure_future(call())
            self._running[key] = running
            running.add_done_callback(lambda _done: self._running.pop(key, None))
        # shield: a caller that gives up must not cancel the load the others wait for
        return await asyncio.shield(running)
