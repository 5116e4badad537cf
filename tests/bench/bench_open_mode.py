"""Open mode (no key anywhere) next to an operator key, at concurrency 64 (prints; asserts nothing).

The quickstart runs open: no ``TURNOUT_API_KEYS``, an empty key store, everyone is
``anonymous`` on loopback. Whether the gateway is still open is a question to the key
store, and it must never be asked on the request path by every request at once (it was:
each request after the one-second recheck interval recounted every key, concurrently,
and the tail went from 59 ms to 1.4 s with a few errors). This bench starts the same
1-worker stack twice, once open and once with an operator key, and drives the same
non-streamed chat completion through each for several seconds at concurrency 64, so
several recheck intervals fall inside every run.

Run from the repository root::

    .venv/bin/python -m tests.bench.bench_open_mode [--seconds 6] [--rounds 2] [--loadgen auto|wrk|python]

Budget: open mode's p99 within 1.5x the operator key's p99 (and no errors) in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_gateway import BODY
from tests.bench.loadgen import LoadResult, Target, best_of, run_load, wrk_available
from tests.bench.procs import BENCH_KEY, bench_stack
from tests.bench.report import budget_line, machine_line

CONCURRENCY = 64
P99_RATIO_BUDGET = 1.5
MODES = {
    "open mode": ({"TURNOUT_API_KEYS": ""}, {"content-type": "application/json"}),
    "operator key": ({}, {"content-type": "application/json", "authorization": f"Bearer {BENCH_KEY}"}),
}


def measure(name: str, seconds: float, rounds: int, tool: str) -> list[LoadResult]:
    env, headers = MODES[name]
    runs: list[LoadResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="turnout-bench-open-") as tmp,
        bench_stack(Path(tmp), {"m1": "mock"}, extra_env=env) as stack,
    ):
        target = Target(f"{stack.gateway_url}/v1/chat/completions", BODY, headers)
        run_load(target, CONCURRENCY, 1, tool=tool)  # warm up connections and the policy snapshot
        for _ in range(rounds):
            runs.append(run_load(target, CONCURRENCY, seconds, tool=tool, watch_pid=stack.gateway_pid))
    return runs


def row(label: str, result: LoadResult) -> str:
    cpu = f"{result.cpu_us:>12.0f}" if result.cpu_us is not None else f"{'':>12}"
    return (
        f"  {label:<14} {result.rps:>10,.0f} {result.p50_ms:>10.3f} {result.p99_ms:>10.3f}{cpu}"
        f" {result.errors:>8} {result.requests:>9}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="open mode vs an operator key at concurrency 64")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each run (default 6)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per mode; each is printed (default 2)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    tool = args.loadgen
    if tool == "auto":
        tool = "wrk" if wrk_available() else "python"
    results = {name: measure(name, args.seconds, args.rounds, tool) for name in MODES}
    loadgen = "wrk (1 thread)" if tool == "wrk" else "Python aiohttp client (own process)"
    print(f"Turnout: open mode vs an operator key, non-streamed chat, 1 worker, concurrency {CONCURRENCY}")
    print(f"loadgen: {loadgen}; {args.seconds:g} s per run, {args.rounds} run(s) per mode")
    print(machine_line())
    print(f"  {'':<14} {'req/s':>10} {'p50 ms':>10} {'p99 ms':>10} {'CPU µs/req':>12} {'errors':>8} {'requests':>9}")
    for name, runs in results.items():
        for result in runs:
            print(row(name, result))
    open_best, keyed_best = best_of(results["open mode"]), best_of(results["operator key"])
    ratio = open_best.p99_ms / keyed_best.p99_ms if keyed_best.p99_ms else float("inf")
    print("budgets (best run of each mode):")
    print(
        budget_line(
            "open-mode p99 / operator-key p99",
            f"{ratio:.2f} ({open_best.p99_ms:.1f} ms / {keyed_best.p99_ms:.1f} ms)",
            f"<= {P99_RATIO_BUDGET:g}",
            ratio <= P99_RATIO_BUDGET,
        )
    )
    errors = sum(r.errors for runs in results.values() for r in runs)
    print(budget_line("errors (non-2xx or socket), all runs", str(errors), "0", errors == 0))


if __name__ == "__main__":
    main()
