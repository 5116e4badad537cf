"""Gateway throughput and added latency, non-streamed chat completions (prints; asserts nothing).

Starts the mock upstream and a 1-worker Turnout (each its own process, free ports, a
generated policy), then drives closed-loop load from a third process (``wrk`` when it is
installed, else the Python aiohttp load generator) at concurrency 1 and 64, straight at
the mock and through Turnout (OpenAI client -> OpenAI upstream: the passthrough path).

Run from the repository root::

    .venv/bin/python -m tests.bench.bench_gateway [--seconds 4] [--rounds 2] [--loadgen auto|wrk|python] [--no-floor]

Budgets: added latency p50 <= 1 ms at concurrency 1; >= 2,500 requests/s at concurrency 64
with one worker (on the 2-core reference machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson

from tests.bench.loadgen import LoadResult, Target, best_of, run_load, wrk_available
from tests.bench.procs import BENCH_KEY, bench_stack
from tests.bench.report import budget_line, machine_line

ADDED_P50_BUDGET_MS = 1.0
RPS_BUDGET = 2500.0
CONCURRENCIES = (1, 64)
BODY = orjson.dumps(
    {
        "model": "m1",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Say hello in five words."},
        ],
        "max_tokens": 64,
        "temperature": 0.2,
    }
)


def row(label: str, result: LoadResult) -> str:
    errors = f"   {result.errors} errors" if result.errors else ""
    cpu = f"{result.cpu_us:>12.0f}" if result.cpu_us is not None else f"{'':>12}"
    loop = f"{result.loop_us:>11.0f}" if result.loop_us is not None else f"{'':>11}"
    return f"  {label:<18} {result.concurrency:>5} {result.rps:>10,.0f} {result.p50_ms:>10.3f} {result.p99_ms:>10.3f}{cpu}{loop}{errors}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Turnout gateway throughput and added latency")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each run (default 4)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per cell; the best is shown (default 2)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--no-floor", action="store_true", help="skip the minimal-proxy reference rows")
    parser.add_argument("--mock-server", default="granian-rsgi", help="granian-rsgi | granian-asgi | aiohttp")
    args = parser.parse_args()
    tool = args.loadgen
    if tool == "auto":
        tool = "wrk" if wrk_available() else "python"
    headers = {"content-type": "application/json", "authorization": f"Bearer {BENCH_KEY}"}
    with (
        tempfile.TemporaryDirectory(prefix="turnout-bench-") as tmp,
        bench_stack(Path(tmp), {"m1": "mock"}, mock_server=args.mock_server, floor=not args.no_floor) as stack,
    ):
        cells = [
            ("direct", Target(f"{stack.mock_url}/v1/chat/completions", BODY, headers), None),
            ("through", Target(f"{stack.gateway_url}/v1/chat/completions", BODY, headers), stack.gateway_pid),
        ]
        if stack.floor_url:
            cells.append(("floor", Target(f"{stack.floor_url}/v1/chat/completions", BODY, headers), stack.floor_pid))
        for _, target, _ in cells:  # warm up connections, caches, the policy snapshot
            run_load(target, 64, 1, tool=tool)
        results: dict[tuple[str, int], list[LoadResult]] = {}
        for concurrency in CONCURRENCIES:
            for _ in range(args.rounds):
                for name, target, pid in cells:
                    results.setdefault((name, concurrency), []).append(
                        run_load(target, concurrency, args.seconds, tool=tool, watch_pid=pid)
                    )
    shown = {key: best_of(runs) for key, runs in results.items()}
    loadgen = "wrk (1 thread)" if tool == "wrk" else "Python aiohttp client (own process)"
    print("Turnout gateway: non-streamed OpenAI chat completions, passthrough, 1 worker")
    print(f"loadgen: {loadgen}; {args.seconds:g} s per run, best of {args.rounds} runs; mock: {args.mock_server}")
    print(machine_line())
    print(f"  {'':<18} {'conc':>5} {'req/s':>10} {'p50 ms':>10} {'p99 ms':>10} {'CPU µs/req':>11} {'loop µs/req':>11}")
    for concurrency in CONCURRENCIES:
        print(row("direct to mock", shown[("direct", concurrency)]))
        print(row("through Turnout", shown[("through", concurrency)]))
        if ("floor", concurrency) in shown:
            print(row("minimal proxy", shown[("floor", concurrency)]))
    print("added latency (through Turnout minus direct):")
    for concurrency in CONCURRENCIES:
        d, t = shown[("direct", concurrency)], shown[("through", concurrency)]
        p50, p99 = t.p50_ms - d.p50_ms, t.p99_ms - d.p99_ms
        line = f"  concurrency {concurrency:<3} p50 {p50:+.3f} ms   p99 {p99:+.3f} ms"
        if concurrency == 1:
            line += f"   budget p50 <= {ADDED_P50_BUDGET_MS:g} ms: {'within budget' if p50 <= ADDED_P50_BUDGET_MS else 'OVER BUDGET'}"
        print(line)
    if ("floor", 1) in shown:
        print("  (minimal proxy: raw ASGI app + the same aiohttp client under Granian, no Starlette/pipeline:")
        print("   the floor of this stack; Turnout minus it is what Turnout's own layers cost)")
    cpu, loop = shown[("through", 64)].cpu_us, shown[("through", 64)].loop_us
    if cpu and loop:
        print(
            f"Turnout CPU per request at concurrency 64: {cpu:.0f} µs (worker process, all threads, user+sys),"
            f" {loop:.0f} µs of it on the event-loop thread, which bounds one worker near {1e6 / loop:,.0f} req/s"
        )
    print("budgets:")
    added = shown[("through", 1)].p50_ms - shown[("direct", 1)].p50_ms
    print(
        budget_line(
            "added latency p50, concurrency 1",
            f"{added:.3f} ms",
            f"<= {ADDED_P50_BUDGET_MS:g} ms",
            added <= ADDED_P50_BUDGET_MS,
        )
    )
    rps = shown[("through", 64)].rps
    print(
        budget_line(
            "through Turnout, concurrency 64", f"{rps:,.0f} req/s", f">= {RPS_BUDGET:,.0f} req/s", rps >= RPS_BUDGET
        )
    )


if __name__ == "__main__":
    main()
