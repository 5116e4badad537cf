"""What one worker owns for observability: its ``Recorder`` (metrics, access log, traces),
the task refreshing its state gauges, and the scrape of ``GET /metrics``. Made in the
app's lifespan, closed at its end (then the worker's live gauges leave the sums)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.multiprocess import mark_process_dead

from engine.observability.access_log import AccessLog
from engine.observability.gauges import UsageQueue, WorkerGauges
from engine.observability.metrics import Metrics
from engine.observability.multiproc import ENV, forget_dead_workers
from engine.observability.recorder import Recorder
from engine.observability.tracing import Tracing
from engine.policy.store import PolicyStore
from engine.routing.health import Health
from engine.settings import Settings


class WorkerObservability:
    def __init__(
        self,
        settings: Settings,
        store: PolicyStore,
        health: Health,
        usage: UsageQueue | None,
        environ: Mapping[str, str],
    ) -> None:
        shared = environ.get(ENV)
        self.directory = Path(shared) if shared else None
        if self.directory is not None:
            forget_dead_workers(self.directory)
        self.metrics = Metrics(self.directory)
        self.tracing = Tracing.from_environment(environ)
        access = AccessLog(json=settings.log_format == "json") if settings.access_log else None
        self.recorder = Recorder(self.metrics, access, self.tracing)
        self.gauges = WorkerGauges(self.recorder, store, health, usage)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.gauges.run(self._stop), name="turnout-metrics-gauges")

    async def scrape(self) -> bytes:
        """The exposition text, this worker's gauges brought up to date first."""
        self.gauges.refresh()
        return await asyncio.to_thread(self.metrics.exposition)

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.gauges.refresh()  # the last second's counts
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)
        if self.directory is not None:
            mark_process_dead(os.getpid(), str(self.directory))  # type: ignore[no-untyped-call]
