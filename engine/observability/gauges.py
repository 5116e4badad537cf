"""The worker's gauges that follow its state rather than its requests: the policy version
and whether its last reload failed, the breaker of every channel+model the policy routes
to, the usage log's queue and dropped rows. ``WorkerGauges.refresh`` reads them into the
``Recorder``; ``run`` does it every second (a breaker turns half-open by the clock, with
no event to hook), and the worker that answers ``GET /metrics`` does it before the scrape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Protocol

from engine.observability.recorder import Recorder
from engine.policy.store import PolicyStore
from engine.routing.health import BreakerState, Health

INTERVAL = 1.0  # seconds


class UsageQueue(Protocol):
    @property
    def pending(self) -> int: ...

    @property
    def dropped(self) -> int: ...


class WorkerGauges:
    def __init__(self, recorder: Recorder, store: PolicyStore, health: Health, usage: UsageQueue | None) -> None:
        self.recorder = recorder
        self.store = store
        self.health = health
        self.usage = usage

    def _breakers(self) -> Iterator[tuple[str, str, BreakerState]]:
        policy = self.store.current
        for channel in policy.channels.values():
            if not channel.enabled:
                continue
            for model in channel.models:
                yield channel.name, model, self.health.state(channel.name, model)

    def refresh(self) -> None:
        usage = (self.usage.pending, self.usage.dropped) if self.usage is not None else None
        self.recorder.refresh(self.store.current, self.store.last_error is not None, self._breakers(), usage)

    async def run(self, stop: asyncio.Event, interval: float = INTERVAL) -> None:
        while not stop.is_set():
            self.refresh()
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
