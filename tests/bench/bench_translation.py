"""What translation costs, and whether streams arrive whole (prints; asserts nothing).

Starts the mock upstream and a 1-worker Turnout (own processes, generated policy: one
OpenAI-format channel). Three ways to the same mock:

* ``direct``       OpenAI client straight to the mock;
* ``passthrough``  OpenAI client -> Turnout ``/v1/chat/completions`` -> OpenAI upstream;
* ``translated``   Anthropic client -> Turnout ``/v1/messages`` -> OpenAI upstream.

Measured: non-streamed latency p50/p99 at concurrency 1 (``wrk``, or the Python load
generator); streamed time to first byte at concurrency 1 (the routes
take turns, one stream each); gaps between content frames
with 64 streams in flight (the mock paces frames 20 ms apart); and, with 256 streams in
flight, every SSE frame counted per stream against what the mock sent.

Run from the repository root::

    .venv/bin/python -m tests.bench.bench_translation [--seconds 4] [--rounds 3]

Budgets: translation adds <= 0.3 ms p50 over passthrough; added TTFB p50 <= 1 ms; no lost
frames at 256 concurrent streams.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp
import orjson

from tests.bench.loadgen import LoadResult, Target, best_of, run_load, wrk_available
from tests.bench.mock_upstream import expected_frames
from tests.bench.procs import BENCH_KEY, Stack, bench_stack, tree_cpu_seconds
from tests.bench.report import budget_line, machine_line
from tests.bench.sse_client import StreamTrace, trace_many, trace_stream
from tests.bench.stats import percentile

TRANSLATION_BUDGET_MS = 0.3
TTFB_BUDGET_MS = 1.0
GAP_CHUNKS, GAP_DELAY_MS = 20, 20
LOSS_CHUNKS, LOSS_DELAY_MS, LOSS_STREAMS = 32, 5, 256
MODELS = {  # public id -> upstream id (the mock reads its stream shape from the upstream id)
    "m1": "mock",
    "s16": "mock-c16",
    "gap": f"mock-c{GAP_CHUNKS}-d{GAP_DELAY_MS}",
    "loss": f"mock-c{LOSS_CHUNKS}-d{LOSS_DELAY_MS}",
}
SYSTEM = "You are a concise assistant."
QUESTION = "Say hello in five words."
OPENAI_MARKER = b'"content":"w'
ANTHROPIC_MARKER = b"text_delta"


@dataclass(frozen=True, slots=True)
class Route:
    """One way to the mock: where to send, in which format, which model id to ask for."""

    name: str
    url: str
    headers: Mapping[str, str]
    anthropic: bool
    direct: bool

    def body(self, public_model: str, stream: bool) -> bytes:
        model = MODELS[public_model] if self.direct else public_model
        payload: dict[str, Any]
        if self.anthropic:
            payload = {
                "model": model,
                "max_tokens": 64,
                "system": SYSTEM,
                "messages": [{"role": "user", "content": QUESTION}],
            }
        else:
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
            payload = {"model": model, "max_tokens": 64, "messages": messages}
        payload["temperature"] = 0.2
        if stream:
            payload["stream"] = True
            if not self.anthropic:
                payload["stream_options"] = {"include_usage": True}
        return orjson.dumps(payload)

    @property
    def marker(self) -> bytes:
        return ANTHROPIC_MARKER if self.anthropic else OPENAI_MARKER


def routes(stack: Stack) -> list[Route]:
    openai = {"content-type": "application/json", "authorization": f"Bearer {BENCH_KEY}"}
    anthropic = {"content-type": "application/json", "x-api-key": BENCH_KEY, "anthropic-version": "2023-06-01"}
    return [
        Route("direct", f"{stack.mock_url}/v1/chat/completions", openai, anthropic=False, direct=True),
        Route("passthrough", f"{stack.gateway_url}/v1/chat/completions", openai, anthropic=False, direct=False),
        Route("translated", f"{stack.gateway_url}/v1/messages", anthropic, anthropic=True, direct=False),
    ]


def mock_stats(stack: Stack, reset: bool = False) -> dict[str, int]:
    if reset:
        urllib.request.urlopen(urllib.request.Request(f"{stack.mock_url}/stats/reset", data=b"", method="POST")).read()
        return {}
    stats: dict[str, int] = orjson.loads(urllib.request.urlopen(f"{stack.mock_url}/stats").read())
    return stats


def ms(seconds: float) -> float:
    return seconds * 1000


def non_streamed(stack: Stack, all_routes: list[Route], seconds: float, rounds: int, tool: str) -> None:
    runs: dict[tuple[str, int], list[LoadResult]] = {}
    for route in all_routes:  # warm-up
        run_load(Target(route.url, route.body("m1", False), route.headers), 16, 1, tool=tool)
    for concurrency in (1, 64):
        for _ in range(rounds):
            for route in all_routes:
                target = Target(route.url, route.body("m1", False), route.headers)
                pid = None if route.direct else stack.gateway_pid
                got = run_load(target, concurrency, seconds, tool=tool, watch_pid=pid)
                runs.setdefault((route.name, concurrency), []).append(got)
    results = {key: best_of(cell) for key, cell in runs.items()}
    print(f"non-streamed (best of {rounds} runs of {seconds:g} s per cell):")
    print(f"  {'':<14} {'conc':>5} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'Turnout CPU µs/req':>19}")
    for concurrency in (1, 64):
        for route in all_routes:
            r = results[(route.name, concurrency)]
            errors = f"   {r.errors} errors" if r.errors else ""
            cpu = f"{r.cpu_us:>19.0f}" if r.cpu_us is not None else f"{'':>19}"
            print(f"  {route.name:<14} {concurrency:>5} {r.rps:>9,.0f} {r.p50_ms:>9.3f} {r.p99_ms:>9.3f} {cpu}{errors}")
    d, p, t = (results[(name, 1)] for name in ("direct", "passthrough", "translated"))
    print(f"  passthrough minus direct:      p50 {p.p50_ms - d.p50_ms:+.3f} ms   p99 {p.p99_ms - d.p99_ms:+.3f} ms")
    print(f"  translated minus passthrough:  p50 {t.p50_ms - p.p50_ms:+.3f} ms   p99 {t.p99_ms - p.p99_ms:+.3f} ms")
    p64, t64 = results[("passthrough", 64)], results[("translated", 64)]
    if p64.cpu_us is not None and t64.cpu_us is not None:
        print(
            f"  translated minus passthrough, Turnout CPU per request at concurrency 64: {t64.cpu_us - p64.cpu_us:+.0f} µs"
        )
    added = t.p50_ms - p.p50_ms
    print(
        budget_line(
            "translation over passthrough, p50",
            f"{added:+.3f} ms",
            f"<= {TRANSLATION_BUDGET_MS:g} ms",
            added <= TRANSLATION_BUDGET_MS,
        )
    )


async def _interleaved_ttfb(all_routes: list[Route], count: int) -> dict[str, list[StreamTrace]]:
    """``count`` sequential streams per route, taking turns (direct, passthrough, translated,
    direct, ...) on one kept-alive connection per route, so a burst of other work on the
    machine lands on every route alike instead of on whichever block it happened to hit."""
    traces: dict[str, list[StreamTrace]] = {route.name: [] for route in all_routes}
    bodies = {route.name: route.body("s16", True) for route in all_routes}
    sessions = {r.name: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for r in all_routes}
    try:
        for turn in range(20 + count):  # the first 20 turns warm up and are not kept
            for route in all_routes:
                session, body = sessions[route.name], bodies[route.name]
                trace = await trace_stream(session, route.url, body, route.headers, route.marker)
                if turn >= 20:
                    traces[route.name].append(trace)
    finally:
        for session in sessions.values():
            await session.close()
    return traces


def ttfb(all_routes: list[Route], count: int) -> None:
    print(
        f"streamed time to first byte ({count} sequential streams of 16 chunks each per route,"
        " concurrency 1, the routes taking turns):"
    )
    shown: dict[str, tuple[float, float]] = {}
    for name, traces in asyncio.run(_interleaved_ttfb(all_routes, count)).items():
        times = sorted(t.ttfb_s for t in traces if t.ttfb_s is not None)
        shown[name] = (ms(percentile(times, 50)), ms(percentile(times, 99)))
        print(f"  {name:<14} p50 {shown[name][0]:8.3f} ms   p99 {shown[name][1]:8.3f} ms{_failures(traces)}")
    direct = shown["direct"]
    for name in ("passthrough", "translated"):
        p50, p99 = shown[name][0] - direct[0], shown[name][1] - direct[1]
        print(f"  added by Turnout, {name:<12} p50 {p50:+.3f} ms   p99 {p99:+.3f} ms")
    added = shown["passthrough"][0] - direct[0]
    print(
        budget_line(
            "added TTFB p50 (passthrough)", f"{added:+.3f} ms", f"<= {TTFB_BUDGET_MS:g} ms", added <= TTFB_BUDGET_MS
        )
    )
    added = shown["translated"][0] - direct[0]
    print(
        budget_line(
            "added TTFB p50 (translated)", f"{added:+.3f} ms", f"<= {TTFB_BUDGET_MS:g} ms", added <= TTFB_BUDGET_MS
        )
    )


def gaps(all_routes: list[Route], concurrency: int) -> None:
    print(
        f"inter-chunk gaps, {concurrency} concurrent streams ({GAP_CHUNKS} content frames {GAP_DELAY_MS} ms apart"
        f" at the mock, {2 * concurrency} streams):"
    )
    shown: dict[str, tuple[float, float]] = {}
    for route in all_routes:
        traces = asyncio.run(
            trace_many(
                route.url,
                route.body("gap", True),
                route.headers,
                route.marker,
                count=2 * concurrency,
                concurrency=concurrency,
            )
        )
        pooled = sorted(g for t in traces for g in t.gaps())
        shown[route.name] = (ms(percentile(pooled, 50)), ms(percentile(pooled, 99)))
        print(
            f"  {route.name:<14} gap p50 {shown[route.name][0]:8.3f} ms   p99 {shown[route.name][1]:8.3f} ms{_failures(traces)}"
        )
    direct = shown["direct"]
    for name in ("passthrough", "translated"):
        p50, p99 = shown[name][0] - direct[0], shown[name][1] - direct[1]
        print(f"  gap overhead, {name:<12} p50 {p50:+.3f} ms   p99 {p99:+.3f} ms")


def lost_frames(stack: Stack, all_routes: list[Route]) -> None:
    print(
        f"lost-frame check: {LOSS_STREAMS} concurrent streams of {LOSS_CHUNKS} content frames ({LOSS_DELAY_MS} ms apart):"
    )
    worst = 0
    for route in all_routes:
        mock_stats(stack, reset=True)
        cpu_before = tree_cpu_seconds(stack.gateway_pid)
        traces = asyncio.run(
            trace_many(
                route.url,
                route.body("loss", True),
                route.headers,
                route.marker,
                count=LOSS_STREAMS,
                concurrency=LOSS_STREAMS,
            )
        )
        cpu = tree_cpu_seconds(stack.gateway_pid) - cpu_before
        sent = mock_stats(stack)
        received = sum(t.frames for t in traces)
        if route.anthropic:
            bad = [t for t in traces if not _whole_anthropic(t)]
            detail = f"text deltas expected {LOSS_CHUNKS} per stream, message_stop last"
        else:
            want = expected_frames(LOSS_CHUNKS, include_usage=True)
            bad = [
                t for t in traces if t.error or t.status != 200 or t.frames != want or t.last_frame != b"data: [DONE]"
            ]
            detail = f"mock sent {sent['frames']} frames in {sent['streams']} streams, client got {received}; expected {want} per stream"
        worst = max(worst, len(bad))
        print(f"  {route.name:<14} streams that lost frames: {len(bad)}/{len(traces)}   ({detail})")
        if not route.direct:
            per_frame = cpu / max(1, sent.get("frames", 0)) * 1e6
            print(
                f"  {'':<14} Turnout CPU: {cpu / len(traces) * 1e6:,.0f} µs per stream, {per_frame:.0f} µs per upstream frame"
            )
        for trace in bad[:3]:
            print(
                f"      e.g. status {trace.status}, {trace.frames} frames, error {trace.error}, last {trace.last_frame[:60]!r}"
            )
    print(budget_line(f"streams losing frames at {LOSS_STREAMS} concurrent", str(worst), "0", worst == 0))


def _whole_anthropic(trace: StreamTrace) -> bool:
    return (
        trace.error is None
        and trace.status == 200
        and len(trace.content_times) == LOSS_CHUNKS
        and b"message_stop" in trace.last_frame
    )


def _failures(traces: list[StreamTrace]) -> str:
    failed = sum(1 for t in traces if t.error or t.status != 200)
    return f"   ({failed} failed)" if failed else ""


def main() -> None:
    parser = argparse.ArgumentParser(description="translation overhead and stream integrity")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each non-streamed run (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="non-streamed runs per cell, best shown (default 3)")
    parser.add_argument("--ttfb-count", type=int, default=600, help="sequential streams per route (default 600)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    tool = args.loadgen if args.loadgen != "auto" else ("wrk" if wrk_available() else "python")
    print("Turnout translation overhead and stream integrity, 1 worker, OpenAI-format mock upstream")
    print(f"loadgen (non-streamed): {'wrk (1 thread)' if tool == 'wrk' else 'Python aiohttp client (own process)'};"
          " streams: Python aiohttp client in the bench process")  # fmt: skip
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="turnout-bench-") as tmp, bench_stack(Path(tmp), MODELS) as stack:
        all_routes = routes(stack)
        non_streamed(stack, all_routes, args.seconds, args.rounds, tool)
        ttfb(all_routes, args.ttfb_count)
        gaps(all_routes, 64)
        lost_frames(stack, all_routes)


if __name__ == "__main__":
    main()
