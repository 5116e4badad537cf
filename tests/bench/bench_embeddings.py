"""Embeddings throughput: requests/s straight to a local upstream and through Turnout
(prints; asserts nothing).

Starts the mock upstream (``POST /v1/embeddings``: one 1,536-dimension vector per input,
precomputed) and a 1-worker Turnout in front of it (one embedding model on an OpenAI-format
channel), then drives closed-loop load at concurrency 1 and 64 with the body the OpenAI SDK
sends (``encoding_format: "base64"``, its default), one input and a batch of 16.
Through Turnout an embeddings request is decoded and re-encoded (never passed through), so
the 16-input rows show the vector translation's cost.

Run from the repository root::

    .venv/bin/python -m tests.bench.bench_embeddings [--seconds 4] [--rounds 2] [--loadgen auto|wrk|python]
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
from tests.bench.report import machine_line

CONCURRENCIES = (1, 64)
BODIES = {
    "1 input": orjson.dumps({"model": "e1", "input": "The food was delicious.", "encoding_format": "base64"}),
    "16 inputs": orjson.dumps(
        {"model": "e1", "input": [f"sentence number {i} to embed" for i in range(16)], "encoding_format": "base64"}
    ),
}


def row(label: str, result: LoadResult) -> str:
    errors = f"   {result.errors} errors" if result.errors else ""
    cpu = f"{result.cpu_us:>12.0f}" if result.cpu_us is not None else f"{'':>12}"
    return f"  {label:<28} {result.concurrency:>5} {result.rps:>10,.0f} {result.p50_ms:>10.3f} {result.p99_ms:>10.3f}{cpu}{errors}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Turnout embeddings throughput")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each run (default 4)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per cell; the best is shown (default 2)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    tool = args.loadgen
    if tool == "auto":
        tool = "wrk" if wrk_available() else "python"
    headers = {"content-type": "application/json", "authorization": f"Bearer {BENCH_KEY}"}
    results: dict[tuple[str, str, int], list[LoadResult]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="turnout-bench-") as tmp,
        bench_stack(Path(tmp), {"e1": "mock-embed"}, kinds={"e1": "embedding"}) as stack,
    ):
        cells = [
            (shape, where, Target(f"{root}/v1/embeddings", body, headers), pid)
            for shape, body in BODIES.items()
            for where, root, pid in (
                ("direct", stack.mock_url, None),
                ("through", stack.gateway_url, stack.gateway_pid),
            )
        ]
        for _, _, target, _ in cells:  # warm up connections and the policy snapshot
            run_load(target, 64, 1, tool=tool)
        for concurrency in CONCURRENCIES:
            for _ in range(args.rounds):
                for shape, where, target, pid in cells:
                    results.setdefault((shape, where, concurrency), []).append(
                        run_load(target, concurrency, args.seconds, tool=tool, watch_pid=pid)
                    )
    shown = {key: best_of(runs) for key, runs in results.items()}
    loadgen = "wrk (1 thread)" if tool == "wrk" else "Python aiohttp client (own process)"
    print("Turnout embeddings: POST /v1/embeddings (OpenAI SDK body, base64), OpenAI-format upstream, 1 worker")
    print(f"loadgen: {loadgen}; {args.seconds:g} s per run, best of {args.rounds} runs; vectors of 1,536 floats")
    print(machine_line())
    print(f"  {'':<28} {'conc':>5} {'req/s':>10} {'p50 ms':>10} {'p99 ms':>10} {'CPU µs/req':>11}")
    for shape in BODIES:
        for concurrency in CONCURRENCIES:
            print(row(f"{shape}, direct to upstream", shown[(shape, "direct", concurrency)]))
            print(row(f"{shape}, through Turnout", shown[(shape, "through", concurrency)]))
    print("through Turnout as a share of direct (req/s):")
    for shape in BODIES:
        for concurrency in CONCURRENCIES:
            direct, through = shown[(shape, "direct", concurrency)], shown[(shape, "through", concurrency)]
            share = through.rps / direct.rps if direct.rps else 0.0
            added = through.p50_ms - direct.p50_ms
            print(f"  {shape:<10} concurrency {concurrency:<3} {share:6.1%}   added p50 {added:+.3f} ms")


if __name__ == "__main__":
    main()
