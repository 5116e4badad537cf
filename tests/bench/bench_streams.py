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
the upstream itself sent (its ticker's lag: the upstream is not the bottleneck while
this stays near 1 ms); CPU seconds of the gateway, the upstream and the reader. And the
Turnout worker's resident memory per open stream: (RSS with every stream open - idle
RSS) / streams.

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
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson
import uvloop

from tests.bench.procs import BENCH_KEY, REPO, TURNOUT, free_port, tree_cpu_seconds, wait_http, worker_pid
from tests.bench.report import budget_line, machine_line
from tests.bench.stats import percentile
from tests.bench.stream_reader import SeqTrace, Tracker, read_streams

DEFAULT_PERIOD_MS = 5.0
RSS_BUDGET_KB = 64
WARM_STREAMS = 50
HARNESS_NICE = -10
AUTOGROUP = Path("/proc/self/autogroup")
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


# -- processes ----------------------------------------------------------------------------


@contextlib.contextmanager
def harness_priority() -> Iterator[str]:
    """Run this process (the reader) and the upstream ahead of the gateway while the bench
    runs, so that on a small shared machine the gateway, not the harness, is what runs short
    of CPU: nice -10 for this process and its scheduler autogroup (Linux puts each session
    in one; the gateway gets a session, so an autogroup, of its own at nice 0)."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    group = _autogroup_nice()
    try:
        os.setpriority(os.PRIO_PROCESS, 0, HARNESS_NICE)
        if group is not None:
            AUTOGROUP.write_text(str(HARNESS_NICE))
        note = f"the upstream and the reader run at nice {HARNESS_NICE}, the gateway at 0 (autogroups alike)"
    except OSError:
        note = "the harness runs at the gateway's priority (raising it needs CAP_SYS_NICE)"
    try:
        yield note
    finally:
        with contextlib.suppress(OSError):
            if group is not None:
                AUTOGROUP.write_text(str(group))
            os.setpriority(os.PRIO_PROCESS, 0, before)


def _autogroup_nice() -> int | None:
    """This session's autogroup nice value (``/autogroup-510 nice 0``), None without autogroups."""
    try:
        return int(AUTOGROUP.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _gateway_priority() -> None:
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # back to the default, in the child, before exec


@contextlib.contextmanager
def process(
    argv: list[str], env: Mapping[str, str], log: Path, *, normal_priority: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, stopped (SIGINT, then SIGKILL) with its group on
    exit. It shares this process's session and priority, unless ``normal_priority``: then
    it gets a session of its own at the default priority."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=normal_priority,
            process_group=None if normal_priority else 0,
            preexec_fn=_gateway_priority if normal_priority else None,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def base_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(
        {
            "MOCK_KEY": "sk-bench-upstream",
            "TURNOUT_DATA_DIR": str(workdir / "data"),
            "TURNOUT_API_KEYS": BENCH_KEY,
            "TURNOUT_LOG_LEVEL": "warning",
            "TURNOUT_WORKERS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def check_policy(directory: Path, env: Mapping[str, str]) -> str | None:
    """None when ``turnout check`` accepts the policy, else its complaint."""
    done = subprocess.run([str(TURNOUT), "check", str(directory)], env=dict(env), capture_output=True, text=True)
    if done.returncode == 0:
        return None
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return "; ".join(lines[:2]) or f"exit {done.returncode}"


def upstream_json(root: str, path: str, post: bool = False) -> object:
    request = urllib.request.Request(root + path, data=b"" if post else None, method="POST" if post else "GET")
    with urllib.request.urlopen(request, timeout=60) as response:
        return orjson.loads(response.read())


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


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
    return cpu


# -- what a run shows ---------------------------------------------------------------------


@dataclass(slots=True)
class Analysis:
    streams: int = 0
    whole: int = 0
    failed: int = 0  # not a 200, or an error, or no [DONE]
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    words: int = 0
    one_way: list[float] = field(default_factory=list)
    added_gap: list[float] = field(default_factory=list)
    resume_gaps: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def analyse(result: Run, words: int) -> Analysis:
    out = Analysis(streams=len(result.traces))
    expected = list(range(1, words + 1))
    for trace in result.traces:
        sent = {int(n): t for n, t in result.sent.get(trace.key, [])}  # a word sent twice: the last send
        seqs, times = list(trace.seqs), list(trace.times)
        distinct = set(seqs)
        out.words += len(seqs)
        out.lost += sum(1 for n in expected if n not in distinct)
        out.duplicated += len(seqs) - len(distinct)
        out.reordered += sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b < a)
        ok = trace.status == 200 and trace.error is None and trace.done and trace.complete
        out.failed += 0 if ok else 1
        if ok and seqs == expected:
            out.whole += 1
        elif len(out.examples) < 3:
            out.examples.append(
                f"{trace.key}: status {trace.status}, {len(seqs)} words (last {seqs[-1:]}), done {trace.done}, "
                f"error {trace.error}"
            )
        for i, (number, arrived) in enumerate(zip(seqs, times, strict=True)):
            upstream_at = sent.get(number)
            if upstream_at is not None:
                out.one_way.append(arrived - upstream_at)
            if i and seqs[i - 1] == number - 1:
                before = sent.get(number - 1)
                if upstream_at is not None and before is not None:
                    out.added_gap.append((arrived - times[i - 1]) - (upstream_at - before))
                if trace.key in result.resumed_keys and number == words // 2 + 1:
                    out.resume_gaps.append(arrived - times[i - 1])
    out.one_way.sort()
    out.added_gap.sort()
    out.resume_gaps.sort()
    return out


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
            floor_analysis = analyse(floor, args.words)
            print_run(floor, floor_analysis)
            for variant in chosen:
                started = gateway_target(workdir, (root, upstream.pid), args, variant)
                if isinstance(started, str):
                    print(f"  {'Turnout, ' + variant.name:<22} {started}")
                    continue
                with started as target:
                    target.label, target.ramp_s = f"Turnout, {variant.name}", args.ramp_s
                    result = run(target, root, args.streams)
                analysis = analyse(result, args.words)
                print_run(result, analysis)
                verdicts.append((variant.name, analysis, result))
    summary(floor_analysis, verdicts, args.streams)


def summary(floor: Analysis, verdicts: list[tuple[str, Analysis, Run]], streams: int) -> None:
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
