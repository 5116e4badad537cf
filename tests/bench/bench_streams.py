"""1,000 concurrent SSE streams through one Turnout worker (prints numbers; asserts nothing).

A lean upstream (``stream_upstream.py``, its own process) sends every stream a numbered
word (``w1``, ``w2``, ...) every 5 ms and notes when it sent each; ``turnout serve`` with
one worker relays them (OpenAI client -> OpenAI upstream, the passthrough path); a lean
reader (``stream_reader.py``) in this process opens all the streams at once and notes
when each word arrived. The same run straight at the upstream is the floor.

Reported per run: streams that arrived whole; lost, duplicated and reordered words
(per-stream sequence numbers); words relayed per second; one-way latency (arrival at the
client minus send at the upstream, one clock) p50/p99; the added inter-frame latency
(gap at the client minus gap at the upstream for the same two words) p50/p99; how late
the upstream itself sent (its ticker's lag; with the direct run reaching the nominal rate
it shows the upstream is not the bottleneck); CPU seconds of the gateway, the upstream and
the reader, and the gateway's CPU per relayed word. And the Turnout worker's resident
memory per open stream: (RSS while the most streams were open - idle RSS) / that number.

Variants, each on a fresh gateway: ``plain``; ``buffer-2s`` (the model option
``stream_buffer = "2s"``); ``resume`` (every tenth stream asks for a model that cuts
after half its words, whose fallback declares ``prefill``: the gateway should resume the
answer there). A variant whose policy this build's ``turnout check`` rejects is skipped
and says why; its policy text is in ``VARIANTS``.

Run from the repository root::

    .venv/bin/python -m tests.bench.bench_streams [--streams 1000] [--words 600] [--period-ms 5] [--ramp-s 0] [--variants plain,buffer-2s,resume]

Budgets: 0 lost or reordered frames; <= 64 KB of gateway RSS per open stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson
import uvloop

from tests.bench.procs import (
    BENCH_KEY,
    TURNOUT,
    free_port,
    loop_thread_cpu_seconds,
    tree_cpu_seconds,
    wait_http,
    worker_pid,
)
from tests.bench.report import budget_line, machine_line
from tests.bench.stats import percentile
from tests.bench.stream_analysis import Analysis, analyse
from tests.bench.stream_harness import (
    base_env,
    check_policy,
    harness_priority,
    process,
    rss_kb,
    upstream_json,
)
from tests.bench.stream_reader import SeqTrace, Tracker, read_streams

DEFAULT_PERIOD_MS = 5.0
RSS_BUDGET_KB = 64
WARM_STREAMS = 50
PATH = "/v1/chat/completions"


@dataclass(frozen=True, slots=True)
class Variant:
    """A gateway configuration: TOML lines per model over the base policy, and the
    public model each stream asks for."""

    name: str
    models: Mapping[str, Mapping[str, str]]
    model_for: Callable[[int], str]
    needs: str = ""


VARIANTS = (
    Variant("plain", {}, lambda i: "bench"),
    Variant(
        "buffer-2s",
        {"bench": {"stream_buffer": '"2s"'}},
        lambda i: "bench",
        needs='the model option stream_buffer = "2s"',
    ),
    Variant(
        "resume",
        {"cutter": {"fallback": '["finisher"]'}, "finisher": {"capabilities": '["stream", "prefill"]'}},
        lambda i: "cutter" if i % 10 == 9 else "bench",
        needs="the capability prefill (mid-stream resume on the fallback)",
    ),
)


def upstream_models(words: int, period_ms: float) -> dict[str, str]:
    """Public model id -> the upstream's model name (fault-upstream grammar)."""
    every = f"delay{period_ms:g}ms"
    return {
        "bench": f"s+words{words}+{every}",
        "warm": f"s+words20+{every}",
        "cutter": f"s+words{words}+{every}+cut{words // 2}",
        "finisher": f"s+words{words}+{every}",
    }


def policy_text(upstream_root: str, models: Mapping[str, str], variant: Variant) -> str:
    table = ", ".join(f'"{public}" = "{name}"' for public, name in models.items())
    lines = [
        "[channels.bench]",
        'format = "openai"',
        f'base_url = "{upstream_root}/v1"',
        'api_key = "${MOCK_KEY}"',
        f"models = {{ {table} }}",
        "",
    ]
    for public in models:
        fields = {"price": "{ input = 1.0, output = 2.0 }", "context_window": "128000", "capabilities": '["stream"]'}
        fields.update(variant.models.get(public, {}))
        lines += [f'[models."{public}"]', *(f"{k} = {v}" for k, v in fields.items()), ""]
    return "\n".join(lines)


# -- one run ------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    label: str
    traces: list[SeqTrace]
    sent: dict[str, list[list[float]]]  # key -> [[word number, sent at], ...] from the upstream
    upstream_stats: dict[str, object]
    wall_s: float
    cpu: dict[str, float]
    idle_rss_kb: int = 0
    most_open: int = 0  # the most streams open at once (response head in, body not over)
    full_rss_kb: int = 0  # the highest sample while that many were open
    peak_rss_kb: int = 0
    resumed_keys: frozenset[str] = frozenset()


@dataclass(slots=True)
class Target:
    label: str
    port: int
    models: Callable[[int], str]
    gateway_pid: int | None = None
    upstream_pid: int = 0
    resumed: Callable[[int], bool] = field(default=lambda i: False)
    ramp_s: float = 0.0


def bodies(tag: str, count: int, model_for: Callable[[int], str]) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        key = f"{tag} stream {i}"
        body = {
            "model": model_for(i),
            "messages": [{"role": "user", "content": key}],
            "max_tokens": 4096,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        out.append((key, orjson.dumps(body)))
    return out


async def _sample_rss(pid: int, tracker: Tracker, samples: list[tuple[int, int]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append((tracker.open, rss_kb(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def _streams(target: Target, requests: list[tuple[str, bytes]], samples: list[tuple[int, int]]) -> list[SeqTrace]:
    tracker = Tracker()
    stop = asyncio.Event()
    sampler = None
    if target.gateway_pid is not None:
        sampler = asyncio.create_task(_sample_rss(worker_pid(target.gateway_pid), tracker, samples, stop))
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    try:
        return await read_streams(
            "127.0.0.1", target.port, PATH, requests, headers, tracker, ramp_s=target.ramp_s, timeout=180
        )
    finally:
        stop.set()
        if sampler is not None:
            await sampler


def run(target: Target, upstream_root: str, streams: int) -> Run:
    upstream_json(upstream_root, "/reset", post=True)
    requests = bodies(target.label, streams, target.models)
    samples: list[tuple[int, int]] = []
    idle = rss_kb(worker_pid(target.gateway_pid)) if target.gateway_pid is not None else 0
    cpu0 = _cpu(target)
    started = time.monotonic()
    gc.disable()  # a collection over the recorded frames would stall the reader for tens of ms
    try:
        traces = uvloop.run(_streams(target, requests, samples))
    finally:
        gc.enable()
    wall = time.monotonic() - started
    cpu1 = _cpu(target)
    most = max((open_ for open_, _ in samples), default=0)
    full = [rss for open_, rss in samples if open_ == most]
    resumed = frozenset(key for i, (key, _) in enumerate(requests) if target.resumed(i))
    sent = upstream_json(upstream_root, "/times")
    stats = upstream_json(upstream_root, "/stats")
    assert isinstance(sent, dict) and isinstance(stats, dict)
    return Run(
        target.label,
        traces,
        sent,
        stats,
        wall,
        {k: cpu1[k] - cpu0[k] for k in cpu0},
        idle_rss_kb=idle,
        most_open=most,
        full_rss_kb=max(full, default=0),
        peak_rss_kb=max((rss for _, rss in samples), default=0),
        resumed_keys=resumed,
    )


def _cpu(target: Target) -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = {"upstream": tree_cpu_seconds(target.upstream_pid), "reader": usage.ru_utime + usage.ru_stime}
    if target.gateway_pid is not None:
        cpu["gateway"] = tree_cpu_seconds(target.gateway_pid)
        cpu["loop"] = loop_thread_cpu_seconds(target.gateway_pid)
    return cpu


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def print_run(result: Run, analysis: Analysis) -> None:
    a = analysis
    late = result.upstream_stats.get("late_ms", {})
    late_p99 = late.get("p99", 0.0) if isinstance(late, dict) else 0.0
    cpu = " / ".join(f"{result.cpu.get(k, 0.0):.1f}" for k in ("gateway", "upstream", "reader"))
    print(
        f"  {result.label:<22} {a.whole:>5}/{a.streams:<5} {a.lost:>6} {a.reordered:>6} {a.duplicated:>5} "
        f"{result.wall_s:>7.1f} {a.words / result.wall_s:>9,.0f} "
        f"{ms(percentile(a.one_way, 50)):>8} {ms(percentile(a.one_way, 99)):>8} "
        f"{ms(percentile(a.added_gap, 50)):>8} {ms(percentile(a.added_gap, 99)):>8} "
        f"{late_p99:>8.2f}   {cpu}"
    )
    for example in a.examples:
        print(f"      e.g. {example}")
    if result.resumed_keys:
        gaps = a.resume_gaps
        print(
            f"      resumed {len(gaps)}/{len(result.resumed_keys)} cut streams; the client's gap at the resume "
            f"p50 {ms(percentile(gaps, 50))} ms, max {ms(gaps[-1] if gaps else 0.0)} ms"
        )


def header(streams: int, words: int, period_ms: float, priority: str) -> None:
    print(
        f"Turnout stream relay: {streams:,} concurrent SSE streams, one worker, a word every {period_ms:g} ms per "
        f"stream, {words} words each (OpenAI -> OpenAI passthrough)"
    )
    print(machine_line())
    print("upstream: tests/bench/stream_upstream.py (own process); reader: tests/bench/stream_reader.py (this process)")
    print(f"priority: {priority}")
    print()
    print(
        f"  {'':<22} {'whole':>11} {'lost':>6} {'reord':>6} {'dup':>5} {'wall s':>7} {'words/s':>9} "
        f"{'one-way ms':>17} {'added gap ms':>17} {'upstream':>8}   CPU s"
    )
    print(
        f"  {'':<22} {'':>11} {'':>6} {'':>6} {'':>5} {'':>7} {'':>9} {'p50':>8} {'p99':>8} {'p50':>8} {'p99':>8} "
        f"{'late p99':>8}   gateway / upstream / reader"
    )


# -- main ---------------------------------------------------------------------------------


def gateway_target(
    workdir: Path, upstream: tuple[str, int], args: argparse.Namespace, variant: Variant
) -> contextlib.AbstractContextManager[Target] | str:
    """The running gateway for ``variant`` (a context manager), or why it cannot run."""
    directory = workdir / variant.name / "policies"
    directory.mkdir(parents=True)
    models = upstream_models(args.words, args.period_ms)
    (directory / "policy.toml").write_text(policy_text(upstream[0], models, variant))
    env = base_env(workdir / variant.name)
    complaint = check_policy(directory, env)
    if complaint is not None:
        return f"skipped: this build does not accept {variant.needs or 'its policy'} (turnout check: {complaint})"
    return _gateway(workdir / variant.name, directory, env, upstream[1], variant)


@contextlib.contextmanager
def _gateway(
    workdir: Path, policies: Path, env: dict[str, str], upstream_pid: int, variant: Variant
) -> Iterator[Target]:
    port = free_port()
    argv = [str(TURNOUT), "serve", "--port", str(port), "--policies", str(policies)]
    with process(argv, env, workdir / "turnout.log", normal_priority=True) as proc:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        resumed = (lambda i: variant.model_for(i) == "cutter") if variant.name == "resume" else (lambda i: False)
        target = Target(variant.name, port, variant.model_for, proc.pid, upstream_pid, resumed)
        warm = bodies("warm", WARM_STREAMS, lambda i: "warm")  # code paths, caches, pooled connections
        uvloop.run(_streams(Target("warm", port, lambda i: "warm", None, upstream_pid), warm, []))
        time.sleep(1.0)
        yield target


@contextlib.contextmanager
def minimal_proxy(workdir: Path, root: str, upstream_pid: int, args: argparse.Namespace) -> Iterator[Target]:
    """The floor of the stack (``floor_proxy``: Granian + aiohttp relaying bytes, one worker),
    measured like Turnout in the same run."""
    port = free_port()
    env = base_env(workdir / "floor") | {"FLOOR_UPSTREAM": root}
    (workdir / "floor").mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "tests.bench.floor_proxy", "--port", str(port)]
    with process(argv, env, workdir / "floor" / "floor.log", normal_priority=True) as proc:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        model = upstream_models(args.words, args.period_ms)["bench"]  # the proxy rewrites nothing
        target = Target("minimal proxy", port, lambda i: model, proc.pid, upstream_pid, ramp_s=args.ramp_s)
        warm_model = upstream_models(args.words, args.period_ms)["warm"]
        warm = bodies("warm", WARM_STREAMS, lambda i: warm_model)
        uvloop.run(_streams(Target("warm", port, lambda i: warm_model, None, upstream_pid), warm, []))
        time.sleep(1.0)
        yield target


def main() -> None:
    parser = argparse.ArgumentParser(description="1,000 concurrent SSE streams through one Turnout worker")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (default 1000)")
    parser.add_argument("--words", type=int, default=600, help="words per stream (default 600)")
    parser.add_argument(
        "--period-ms", type=float, default=DEFAULT_PERIOD_MS, help=f"ms between words (default {DEFAULT_PERIOD_MS:g})"
    )
    parser.add_argument(
        "--ramp-s", type=float, default=0.0, help="open the streams evenly over this many seconds (default 0: at once)"
    )
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS), help="comma-separated (default: all)")
    args = parser.parse_args()
    chosen = [v for v in VARIANTS if v.name in args.variants.split(",")]
    verdicts: list[tuple[str, Analysis, Run]] = []
    with harness_priority() as priority, tempfile.TemporaryDirectory(prefix="turnout-bench-streams-") as tmp:
        header(args.streams, args.words, args.period_ms, priority)
        workdir = Path(tmp)
        port = free_port()
        root = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "tests.bench.stream_upstream", "--port", str(port)]
        with process(argv, base_env(workdir), workdir / "upstream.log") as upstream:
            wait_http(f"{root}/healthz", upstream)
            direct = Target(
                "direct (the floor)",
                port,
                lambda i: upstream_models(args.words, args.period_ms)["bench"],
                None,
                upstream.pid,
                ramp_s=args.ramp_s,
            )
            floor = run(direct, root, args.streams)
            floor_analysis = analyse(floor.traces, floor.sent, floor.resumed_keys, args.words)
            print_run(floor, floor_analysis)
            with minimal_proxy(workdir, root, upstream.pid, args) as proxy:
                result = run(proxy, root, args.streams)
            analysis = analyse(result.traces, result.sent, result.resumed_keys, args.words)
            print_run(result, analysis)
            verdicts.append(("minimal proxy", analysis, result))
            for variant in chosen:
                started = gateway_target(workdir, (root, upstream.pid), args, variant)
                if isinstance(started, str):
                    print(f"  {'Turnout, ' + variant.name:<22} {started}")
                    continue
                with started as target:
                    target.label, target.ramp_s = f"Turnout, {variant.name}", args.ramp_s
                    result = run(target, root, args.streams)
                analysis = analyse(result.traces, result.sent, result.resumed_keys, args.words)
                print_run(result, analysis)
                verdicts.append((variant.name, analysis, result))
    summary(floor_analysis, verdicts, args.streams, args.period_ms)


def summary(floor: Analysis, verdicts: list[tuple[str, Analysis, Run]], streams: int, period_ms: float) -> None:
    print()
    for name, analysis, result in verdicts:
        most = result.most_open
        per_stream = (result.full_rss_kb - result.idle_rss_kb) / most if most else float("nan")
        print(
            f"  {name}: worker RSS idle {result.idle_rss_kb / 1024:.1f} MB, with {most:,} streams open "
            f"{result.full_rss_kb / 1024:.1f} MB (peak {result.peak_rss_kb / 1024:.1f} MB); added gap p99 over the "
            f"floor {ms(percentile(analysis.added_gap, 99) - percentile(floor.added_gap, 99))} ms, one-way p50 "
            f"over the floor {ms(percentile(analysis.one_way, 50) - percentile(floor.one_way, 50))} ms"
        )
        words = max(1, analysis.words)
        gateway_us, loop_us = result.cpu["gateway"] / words * 1e6, result.cpu["loop"] / words * 1e6
        print(
            f"  {name}: gateway CPU {gateway_us:.1f} µs per relayed word, {loop_us:.1f} µs of it on the worker's "
            f"event-loop thread: with a core to itself that loop could relay ~{1e6 / loop_us:,.0f} words/s "
            f"({streams:,} streams at one word per {period_ms:g} ms need {streams * 1000 / period_ms:,.0f})"
        )
        bad = analysis.lost + analysis.reordered + analysis.duplicated
        print(budget_line(f"{name}: lost, duplicated or reordered frames", str(bad), "0", bad == 0))
        print(
            budget_line(
                f"{name}: worker RSS per open stream",
                f"{per_stream:.1f} KB",
                f"<= {RSS_BUDGET_KB} KB",
                per_stream <= RSS_BUDGET_KB,
            )
        )
        print(
            budget_line(
                f"{name}: added inter-frame p99", f"{ms(percentile(analysis.added_gap, 99))} ms", "printed", True
            )
        )


if __name__ == "__main__":
    main()
