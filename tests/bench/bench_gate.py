"""Latency of the gate's request path: authenticate + authorize + admit + reserve + settle + release.

Not a test. Run: ``python tests/bench/bench_gate.py`` (needs the local PostgreSQL and Redis
for the second half; override with TURNOUT_BENCH_PG_URL / TURNOUT_BENCH_REDIS_URL).
Prints p50/p99 in microseconds for the embedded store (SQLite, in-process limits and
holds) and for PostgreSQL + Redis (shared limits, a conditional-UPDATE hold), for the part
a request waits for before its upstream call (authenticate, authorize, admit, reserve) and
for the full cycle (plus settle and release, which run after the response). The key's
group sets rpm, tpm and concurrency and its account is prepaid: the most work per request.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from engine.policy.compiled import CompiledPolicy, GroupSpec
from engine.state.db import create_engine
from engine.state.keys import NewKey
from engine.state.migrate import upgrade
from engine.state.state import open_state
from tests.support.pg_admin import run_admin_sql

PG_URL = os.environ.get("TURNOUT_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TURNOUT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROUNDS, WARMUP = 5000, 500

POLICY = CompiledPolicy(
    version="bench",
    loaded_at=datetime.now(UTC),
    source_dir=".",
    channels={},
    models={},
    aliases={},
    groups={"default": GroupSpec("default", models=("gpt-*",), rpm=10**9, tpm=10**12, concurrent=1000)},
)


async def _cycle(kwargs: dict[str, Any]) -> tuple[list[float], list[float]]:
    """(before the upstream call: authenticate..reserve, full cycle incl. settle and release)."""
    state = await open_state(secret_key="bench-secret-key-0123456789", workers=1, **kwargs)
    try:
        created = await state.keys.create(NewKey("bench-" + secrets.token_hex(4), prepaid=True))
        await state.ledger.credit(created.key.account_id, 10**12)
        gate, secret = state.gate, created.secret
        before: list[float] = []
        full: list[float] = []
        cpu_start = 0.0
        for i in range(ROUNDS + WARMUP):
            if i == WARMUP:
                cpu_start = time.process_time()
            start = time.perf_counter()
            principal = await gate.authenticate(secret, "127.0.0.1", POLICY)
            gate.authorize_model(principal, "gpt-4o", POLICY)
            # as the pipeline does: the two independent checks in parallel
            admission, reservation = await asyncio.gather(
                gate.admit(principal, POLICY, 500), gate.reserve(principal, 0.01)
            )
            upstream = time.perf_counter()
            await gate.settle(reservation, 0.004)
            await gate.release(principal, admission, 400)
            if i >= WARMUP:
                before.append(upstream - start)
                full.append(time.perf_counter() - start)
        cpu = (time.process_time() - cpu_start) / ROUNDS * 1e6
        print(f"  (this process's CPU time per full cycle, background writers included: {cpu:.1f} us)")
        return before, full
    finally:
        await state.close()


async def _admin(statement: str) -> None:
    await run_admin_sql(PG_URL, statement)


def _report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1e6
    p99 = ordered[int(len(ordered) * 0.99)] * 1e6
    print(f"{name:<28} p50 {p50:8.1f} us   p99 {p99:8.1f} us   ({len(samples)} cycles)")


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        before, full = await _cycle({"data_dir": data_dir, "database_url": None, "redis_url": None})
        _report("embedded: before upstream", before)
        _report("embedded: full cycle", full)
        schema = "bench_" + secrets.token_hex(4)
        await _admin(f'CREATE SCHEMA "{schema}"')
        try:
            engine = create_engine(PG_URL, schema=schema)
            await upgrade(engine)
            await engine.dispose()
            kwargs = {
                "data_dir": data_dir,
                "database_url": PG_URL,
                "redis_url": REDIS_URL,
                "db_schema": schema,
                "redis_prefix": f"bench:{schema}:",
            }
            before, full = await _cycle(kwargs)
            _report("PG+Redis: before upstream", before)
            _report("PG+Redis: full cycle", full)
        finally:
            await _admin(f'DROP SCHEMA "{schema}" CASCADE')
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
