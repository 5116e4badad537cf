"""Key change events over Redis pub/sub: a changed key's id, so replicas drop it at once.

Publishing is best effort on top of the ``keys_version`` poll (``engine.state.key_cache``),
which alone bounds how long a revoked key stays usable; the events make it near-instant.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.state.errors import StateConfigError

log = logging.getLogger(__name__)


def key_events_channel(prefix: str) -> str:
    return f"{prefix}keys:changed"


class KeyEventPublisher:
    def __init__(self, redis: Redis | None, channel: str) -> None:
        self._redis = redis
        self._channel = channel

    async def publish(self, key_id: str) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.publish(self._channel, key_id)
        except RedisError as exc:  # the poll still catches the change within its interval
            log.warning("could not publish a key change on Redis (%s); replicas will see it on their next poll", exc)


class KeyEventSubscriber:
    """Calls ``on_event(key_id)`` for every published change until ``close``."""

    def __init__(self, redis: Redis, channel: str, on_event: Callable[[str], None]) -> None:
        self._redis = redis
        self._channel = channel
        self._on_event = on_event
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="turnout-key-events")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=5.0)
        except TimeoutError:
            await self.close()
            raise StateConfigError("Redis did not confirm the key-change subscription within 5 s") from None

    async def _run(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        kind, data = message.get("type"), message.get("data")
                        if kind == "subscribe":
                            self._ready.set()  # the server has registered us: no event can be missed
                        elif kind == "message" and isinstance(data, bytes | str):
                            self._on_event(data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("key change subscription lost (%s); retrying in 1 s (the poll covers the gap)", exc)
                self._ready.set()
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
