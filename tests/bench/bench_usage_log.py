"""Cost of the usage log: recording rows on the request path and writing them in batches.

Not a test. Run: ``.venv/bin/python -m tests.bench.bench_usage_log`` (needs the local
PostgreSQL for the second backend, override with TURNOUT_BENCH_PG_URL, or pass --no-pg).
About two minutes. Prints, next to budgets:

* **request path**: µs to build a request's two ``UsageRecord`` rows by keyword (as
  ``engine.pipeline`` does) and to hand them to ``UsageLog.record``;
* **writes**, per backend (SQLite in WAL mode, PostgreSQL), for the usage log's writer and,
  for reference, for the SQLAlchemy ``insert(usage_log)`` it replaced: CPU µs per row (the
  whole process, every thread) and the event-loop thread's share; per batch of 500 rows,
  the wall time and the longest the event loop could not run anything else while a task
  spun on ``asyncio.sleep(0)`` beside the write;
* **loaded loop**, per backend: a loop serving simulated requests back to back (a fixed
  amount of CPU each, two rows recorded each) with the writer in the background (every
  0.5 s or 500 rows), each run paired with one of the same loop without a usage log. The
  difference per request is what the usage log costs a saturated worker: event-loop time
  (wall time minus the time the thread waited for a CPU) and CPU of all threads, the
  median over the pairs. It includes what a writer thread running beside the loop takes
  from it through shared caches and cores, which is large and erratic on a shared VM.

Write cells are run ``--rounds`` times, interleaved, and the best run is shown. On a shared
machine the numbers swing: compare rows of one run and re-run before concluding.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.access import UsageRecord
from engine.state.batcher import Batcher
from engine.state.db import create_engine, default_database_url
from engine.state.migrate import upgrade
from engine.state.usage_log import UsageLog, insert_sqlalchemy
from tests.support.pg_admin import run_admin_sql

PG_URL = os.environ.get("TURNOUT_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
BATCH = 500
BUDGET_RECORD_US = 8.0  # per request on the request path, building the two rows included
BUDGET_WRITE_CPU_US = 10.0  # per row written, all threads
BUDGET_LOADED_US = 20.0  # event-loop time per request under load, writes included (5% of 400 us)


def request_rows(request_id: str, now: datetime) -> list[UsageRecord]:
    """A request's rows, built by keyword like ``engine.pipeline`` does (one attempt)."""
    alias, rule = "smart", 0
    return [
        UsageRecord(
            request_id=request_id,
            attempt=None,
            at=now,
            account_id="acct-1",
            key_id="key-0123456789",
            endpoint="/v1/chat/completions",
            model_requested="smart",
            alias_rule=f"{alias}#{rule}" if alias and rule is not None else alias,
            model_served="gpt-4o-mini",
            channel="openai",
            status=200,
            error_type=None,
            latency_ms=(time.perf_counter() % 1) * 1000,
            ttfb_ms=31.5,
            prompt_tokens=1200,
            completion_tokens=250,
            cached_tokens=0,
            reasoning_tokens=0,
            cost_usd=0.000330,
            policy_version="policy-v1",
        ),
        UsageRecord(
            request_id=request_id,
            attempt=0,
            at=now,
            account_id="acct-1",
            key_id="key-0123456789",
            endpoint="/v1/chat/completions",
            model_requested="smart",
            alias_rule=f"{alias}#{rule}" if alias and rule is not None else alias,
            model_served="gpt-4o-mini",
            channel="openai",
            status=200,
            error_type=None,
            latency_ms=118.25,
            ttfb_ms=31.5,
            prompt_tokens=0,
            completion_tokens=0,
            cached_tokens=0,
            reasoning_tokens=0,
            cost_usd=0.0,
            policy_version="policy-v1",
        ),
    ]


def _verdict(value: float, budget: float) -> str:
    return "within budget" if value <= budget else "OVER BUDGET"


def bench_request_path(engine: AsyncEngine, rounds: int, per_round: int) -> None:
    now = datetime.now(UTC)
    ids = [f"req-{i:08d}" for i in range(per_round)]
    build: list[float] = []
    both: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        for request_id in ids:
            request_rows(request_id, now)
        build.append((time.perf_counter() - start) / per_round)
        log = UsageLog(engine, flush_interval=3600, max_batch=10**9)  # never started: nothing is written
        start = time.perf_counter()
        for request_id in ids:
            log.record(request_rows(request_id, now))
        both.append((time.perf_counter() - start) / per_round)
    b, r = min(build) * 1e6, max(min(both) * 1e6 - min(build) * 1e6, 0.0)
    print(
        f"request path: build 2 rows {b:5.2f} us + record {r:5.2f} us = {b + r:5.2f} us per request"
        f"   (budget {BUDGET_RECORD_US:.0f} us: {_verdict(b + r, BUDGET_RECORD_US)})"
    )


WriteAll = Callable[[list[UsageRecord]], Awaitable[None]]


async def _fast_writer(engine: AsyncEngine) -> tuple[WriteAll, Callable[[], Awaitable[None]]]:
    log = UsageLog(engine, flush_interval=3600, max_batch=BATCH)

    async def write_all(records: list[UsageRecord]) -> None:
        log.record(records)
        await log.flush()

    return write_all, log.close


async def _sqlalchemy_writer(engine: AsyncEngine) -> tuple[WriteAll, Callable[[], Awaitable[None]]]:
    async def write_all(records: list[UsageRecord]) -> None:
        for start in range(0, len(records), BATCH):
            await insert_sqlalchemy(engine, records[start : start + BATCH])

    async def close() -> None:
        return None

    return write_all, close


def _records(rows: int, tag: str) -> list[UsageRecord]:
    now = datetime.now(UTC)
    return [row for i in range(rows // 2) for row in request_rows(f"{tag}-{i:08d}", now)]


async def _spin(gaps: list[float], stop: asyncio.Event) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


@dataclass
class WriteCost:
    cpu: list[float]
    loop_cpu: list[float]
    wall: list[float]
    stall: list[float]


async def bench_writes(backend: str, engine: AsyncEngine, rows: int, rounds: int) -> None:
    writers = {"usage log": await _fast_writer(engine), "sqlalchemy insert (before)": await _sqlalchemy_writer(engine)}
    costs = {name: WriteCost([], [], [], []) for name in writers}
    for name, (write_all, _) in writers.items():
        await write_all(_records(2 * BATCH, f"warm-{name}"))  # pool, statement caches, prepared statements
    for r in range(rounds):
        for name, (write_all, _) in writers.items():
            cost = costs[name]
            records = _records(rows, f"{name}-{r}")
            p0, t0 = time.process_time(), time.thread_time()
            await write_all(records)
            cost.cpu.append((time.process_time() - p0) / rows)
            cost.loop_cpu.append((time.thread_time() - t0) / rows)
            records = _records(rows, f"{name}-{r}-busy")
            gaps: list[float] = []
            stop = asyncio.Event()
            spinner = asyncio.create_task(_spin(gaps, stop))
            await asyncio.sleep(0)
            w0 = time.perf_counter()
            await write_all(records)
            cost.wall.append((time.perf_counter() - w0) / (rows / BATCH))
            stop.set()
            await spinner
            cost.stall.append(max(gaps))
    idle: list[float] = []
    for _ in range(rounds * 3):  # the same spinner with nothing to write: this machine's noise floor
        gaps = []
        stop = asyncio.Event()
        spinner = asyncio.create_task(_spin(gaps, stop))
        await asyncio.sleep(0.02)
        stop.set()
        await spinner
        idle.append(max(gaps))
    print(f"{backend:<10} writes (longest loop stall with nothing to write: {statistics.median(idle) * 1e3:5.2f} ms)")
    for name, (_, close) in writers.items():
        await close()
        cost = costs[name]
        cpu = min(cost.cpu) * 1e6
        budget = (
            f"   (budget {BUDGET_WRITE_CPU_US:.0f} us/row: {_verdict(cpu, BUDGET_WRITE_CPU_US)})"
            if name == "usage log"
            else ""
        )
        print(
            f"{backend:<10} {name:<27} CPU {cpu:6.2f} us/row, event loop {min(cost.loop_cpu) * 1e6:6.2f} us/row;"
            f" per batch of {BATCH}: {min(cost.wall) * 1e3:6.2f} ms beside a busy loop, longest loop stall"
            f" {statistics.median(cost.stall) * 1e3:5.2f} ms{budget}"
        )


def _runqueue_wait() -> float:
    """Seconds this thread has waited for a CPU (Linux), else 0."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _calibrate(seconds: float) -> int:
    n = 1000
    while True:
        start = time.thread_time()
        sum(range(n))
        took = time.thread_time() - start
        if took > 0.02:
            return int(n * seconds / took)
        n *= 2


async def _serve(log: Callable[[list[UsageRecord]], None] | None, seconds: float, work: int) -> tuple[float, float]:
    """Simulated requests back to back: (event-loop seconds, CPU seconds) per request."""
    served = 0
    now = datetime.now(UTC)
    w0, p0, q0 = time.perf_counter(), time.process_time(), _runqueue_wait()
    deadline = w0 + seconds
    while time.perf_counter() < deadline:
        sum(range(work))
        rows = request_rows(f"load-{served:08d}", now)
        if log is not None:
            log(rows)
        served += 1
        await asyncio.sleep(0)  # the writer runs between requests, as it would in a server
    loop_time = time.perf_counter() - w0 - (_runqueue_wait() - q0)
    return loop_time / served, (time.process_time() - p0) / served


async def bench_loaded(backend: str, engine: AsyncEngine, seconds: float, rounds: int, work_us: float) -> None:
    """Each writer alternates with a run without one; the median of the paired differences is shown."""
    work = _calibrate(work_us / 1e6)
    names = ("usage log", "sqlalchemy insert (before)")
    loop_diffs: dict[str, list[float]] = {name: [] for name in names}
    cpu_diffs: dict[str, list[float]] = {name: [] for name in names}
    bases: list[float] = []
    for _ in range(rounds):
        for name in names:
            base_loop, base_cpu = await _serve(None, seconds, work)
            bases.append(base_loop)
            if name == "usage log":
                log = UsageLog(engine, flush_interval=0.5, max_batch=BATCH)
                log.start()
                loop, cpu = await _serve(log.record, seconds, work)
                await log.close()
            else:
                before: Batcher[UsageRecord] = Batcher(
                    partial(insert_sqlalchemy, engine), name="bench", interval=0.5, max_items=BATCH
                )
                before.start()
                loop, cpu = await _serve(before.extend, seconds, work)
                await before.close()
            loop_diffs[name].append((loop - base_loop) * 1e6)
            cpu_diffs[name].append((cpu - base_cpu) * 1e6)
    print(
        f"{backend:<10} loaded loop, {work_us:.0f} us of CPU per simulated request:"
        f" {1 / statistics.median(bases):6.0f} req/s without a usage log"
    )
    for name in names:
        loop, cpu = statistics.median(loop_diffs[name]), statistics.median(cpu_diffs[name])
        spread = f"{min(loop_diffs[name]):.0f}..{max(loop_diffs[name]):.0f}"
        budget = (
            f"   (budget {BUDGET_LOADED_US:.0f} us: {_verdict(loop, BUDGET_LOADED_US)})" if name == "usage log" else ""
        )
        print(
            f"{backend:<10}   with {name:<27} +{loop:6.1f} us of event-loop time (runs: {spread}),"
            f" +{cpu:6.1f} us of CPU per request{budget}"
        )


async def _pg_admin(statement: str) -> None:
    await run_admin_sql(PG_URL, statement)


async def _run_backend(backend: str, engine: AsyncEngine, args: argparse.Namespace) -> None:
    try:
        await upgrade(engine)
        await bench_writes(backend, engine, args.rows, args.rounds)
        await bench_loaded(backend, engine, args.seconds, args.rounds, args.work_us)
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows per measured write")
    parser.add_argument("--rounds", type=int, default=3, help="runs per cell (loaded loop: pairs per writer)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a loaded-loop run")
    parser.add_argument("--work-us", type=float, default=300.0, help="CPU per simulated request in the loaded loop")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cpus, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as data_dir:
        engine = create_engine(default_database_url(Path(data_dir)))
        bench_request_path(engine, rounds=max(5, args.rounds), per_round=20_000)
        await _run_backend("SQLite", engine, args)
    if args.no_pg:
        return
    schema = "bench_" + secrets.token_hex(4)
    await _pg_admin(f'CREATE SCHEMA "{schema}"')
    try:
        await _run_backend("PostgreSQL", create_engine(PG_URL, schema=schema), args)
    finally:
        await _pg_admin(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    asyncio.run(main())
