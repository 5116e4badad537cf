"""A 1,000-request batch job through Turnout, and interactive latency while it runs
(prints; asserts nothing).

One 1-worker Turnout in front of the mock upstream (``procs.bench_stack``, embedded
SQLite store). First interactive chat completions, one at a time, for ``--seconds``: the
idle p50. Then a 1,000-request job alone: its wall time (submission to ``completed``).
Then another while the same interactive loop runs until it has completed: its wall time
beside that traffic (batch work yields to interactive requests, so it is longer) and the
interactive p50 during it.

Run from the repository root::

    .venv/bin/python -m tests.bench.bench_batch [--seconds 5] [--requests 1000] [--per-key 4] [--per-channel 4]

Budget: interactive p50 during the batch within 20% of idle.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from tests.bench.bench_gateway import BODY
from tests.bench.procs import BENCH_KEY, bench_stack
from tests.bench.report import budget_line, machine_line
from tests.bench.stats import percentile

P50_RATIO_BUDGET = 1.2
HEADERS = {"content-type": "application/json", "authorization": f"Bearer {BENCH_KEY}"}


def interactive(client: httpx.Client, url: str, until: threading.Event, seconds: float | None) -> list[float]:
    """Latencies (ms) of one-at-a-time requests until ``until`` is set (or ``seconds`` pass)."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds if seconds is not None else None
    while not until.is_set() and (deadline is None or time.monotonic() < deadline):
        started = time.perf_counter()
        answer = client.post(url, content=BODY, headers=HEADERS)
        latencies.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"interactive request failed: {answer.status_code} {answer.text[:200]}")
    return latencies


def batch_wall_time(client: httpx.Client, count: int) -> tuple[float, dict[str, Any]]:
    """Seconds from submitting a ``count``-request job to its completion, and its last status."""
    requests = [
        {"custom_id": f"r{i}", "model": "m1", "messages": [{"role": "user", "content": f"question {i}"}]}
        for i in range(count)
    ]
    started = time.perf_counter()
    job = client.post("/v1/batch", json={"tier": "batch_50", "requests": requests}, headers=HEADERS).json()
    with httpx.Client(base_url=str(client.base_url), timeout=60, headers=HEADERS) as poller:
        while True:
            status: dict[str, Any] = poller.get(f"/v1/batch/{job['id']}").json()
            if status["status"] == "completed":
                return time.perf_counter() - started, status
            time.sleep(0.05)


def run(args: argparse.Namespace) -> None:
    env = {"TURNOUT_BATCH_PER_KEY": str(args.per_key), "TURNOUT_BATCH_PER_CHANNEL": str(args.per_channel)}
    with (
        tempfile.TemporaryDirectory(prefix="turnout-bench-batch-") as tmp,
        bench_stack(Path(tmp), {"m1": "mock"}, extra_env=env) as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=60) as client,
    ):
        chat = "/v1/chat/completions"
        interactive(client, chat, threading.Event(), 1.0)  # warm up
        idle = interactive(client, chat, threading.Event(), args.seconds)

        alone, _ = batch_wall_time(client, args.requests)
        done = threading.Event()
        during: list[float] = []
        worker = threading.Thread(target=lambda: during.extend(interactive(client, chat, done, None)))
        worker.start()
        wall, status = batch_wall_time(client, args.requests)
        done.set()
        worker.join()

    idle, during = sorted(idle), sorted(during)
    idle_p50, during_p50 = percentile(idle, 50), percentile(during, 50)
    ratio = during_p50 / idle_p50
    print(machine_line())
    print(f"batch of {args.requests} (per key {args.per_key}, per channel {args.per_channel}):")
    print(f"  wall time alone {alone:.2f} s ({args.requests / alone:.0f} requests/s)")
    print(
        f"  wall time beside a client sending one request after another {wall:.2f} s "
        f"({args.requests / wall:.0f} requests/s); {status['counts']}"
    )
    print(f"  interactive idle:   p50 {idle_p50:.2f} ms  p99 {percentile(idle, 99):.2f} ms  ({len(idle)} requests)")
    print(
        f"  interactive during: p50 {during_p50:.2f} ms  p99 {percentile(during, 99):.2f} ms  ({len(during)} requests)"
    )
    print(
        budget_line(
            "interactive p50 during / idle", f"{ratio:.2f}x", f"<= {P50_RATIO_BUDGET}x", ratio <= P50_RATIO_BUDGET
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="idle measurement length")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--per-key", type=int, default=4)
    parser.add_argument("--per-channel", type=int, default=4)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
