"""A batched background writer: collect items on the request path, write them in bulk.

``add`` only appends to a list (no I/O). A background task writes everything pending every
``interval`` seconds, or sooner once ``max_items`` are waiting. A failed write keeps the
items for the next try (up to ``max_pending``; beyond that the oldest are dropped and the
loss is logged as an error). ``close`` stops the task and writes what is left, so a
graceful stop loses nothing; a crash loses at most what arrived since the last write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Batcher(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        name: str,
        interval: float = 0.2,
        max_items: int = 500,
        max_pending: int = 200_000,
    ) -> None:
        self._write = write
        self._name = name
        self._interval = interval
        self._max_items = max_items
        self._max_pending = max_pending
        self._pending: list[T] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, item: T) -> None:
        self.extend((item,))

    def extend(self, items: Iterable[T]) -> None:
        if self._closed:
            late = list(items)
            self.dropped += len(late)
            log.error("%s: %d items arrived after shutdown and were not written", self._name, len(late))
            return
        self._pending.extend(items)
        overflow = len(self._pending) - self._max_pending
        if overflow > 0:
            del self._pending[:overflow]
            self.dropped += overflow
            log.error("%s: %d items dropped, the database is not keeping up or is down", self._name, overflow)
        if len(self._pending) >= self._max_items:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"turnout-{self._name}-writer")

    async def _run(self) -> None:
        while not self._closed:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closed:
                return
            try:
                await self.flush()
            except Exception:  # keep the writer alive; the items stay pending
                log.exception("%s: write failed, retrying at the next interval", self._name)

    async def flush(self) -> None:
        """Write what is pending when called (items arriving meanwhile wait for the next flush).

        On failure the unwritten items go back to the front and the error propagates.
        """
        async with self._lock:
            due = len(self._pending)
            while due > 0:
                batch = self._pending[: min(self._max_items, due)]
                del self._pending[: len(batch)]
                due -= len(batch)
                try:
                    await self._write(batch)
                except BaseException:
                    self._pending[:0] = batch
                    raise

    async def close(self) -> None:
        """Stop the background task and write what is left."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task  # lets a write in progress finish: never cut a commit in half
            self._task = None
        try:
            while self._pending:
                await self.flush()
        except Exception:
            log.exception("%s: %d items could not be written at shutdown", self._name, len(self._pending))
            raise
