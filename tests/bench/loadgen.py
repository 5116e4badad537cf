"""Closed-loop HTTP load generation in its own process: ``wrk`` (with a generated Lua script
for the POST body) when it is installed, else a Python aiohttp client.

``run_load(target, concurrency, seconds)`` returns requests/s and latency percentiles of
``concurrency`` connections each sending ``target.body`` back to back for ``seconds``.

The aiohttp fallback is this module run as a program::

    python -m tests.bench.loadgen URL BODY_FILE --concurrency 64 --seconds 5 [--header k:v ...]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

from tests.bench.procs import loop_thread_cpu_seconds, tree_cpu_seconds
from tests.bench.stats import percentile

REPO = Path(__file__).resolve().parents[2]
_LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOADGEN {{"requests":%d,"duration_us":%d,"errors":%d,"non_2xx":%d,"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoadResult:
    tool: str
    concurrency: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    cpu_us: float | None = None  # CPU time of the watched process tree per request
    loop_us: float | None = None  # CPU time of its worker's event-loop thread per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def best_of(results: list[LoadResult]) -> LoadResult:
    """The least disturbed of several runs of one cell: the highest rate, the lowest
    percentiles (each taken separately), errors summed."""
    top = max(results, key=lambda r: r.rps)
    return LoadResult(
        top.tool,
        top.concurrency,
        top.requests,
        top.seconds,
        sum(r.errors for r in results),
        min(r.p50_ms for r in results),
        min(r.p99_ms for r in results),
        min((r.cpu_us for r in results if r.cpu_us is not None), default=None),
        min((r.loop_us for r in results if r.loop_us is not None), default=None),
    )


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    target: Target, concurrency: int, seconds: float, *, tool: str = "auto", watch_pid: int | None = None
) -> LoadResult:
    """``tool``: ``auto`` (wrk if installed), ``wrk`` or ``python``. With ``watch_pid``, the
    CPU time that process and its children spent during the run is divided per request."""
    use_wrk = tool == "wrk" or (tool == "auto" and wrk_available())
    before = tree_cpu_seconds(watch_pid) if watch_pid else 0.0
    loop_before = loop_thread_cpu_seconds(watch_pid) if watch_pid else 0.0
    with tempfile.TemporaryDirectory() as tmp:
        if use_wrk:
            result = _wrk(target, concurrency, seconds, Path(tmp))
        else:
            result = _python(target, concurrency, seconds, Path(tmp))
    if watch_pid and result.requests:
        spent = tree_cpu_seconds(watch_pid) - before
        loop_spent = loop_thread_cpu_seconds(watch_pid) - loop_before
        result = replace(result, cpu_us=spent / result.requests * 1e6, loop_us=loop_spent / result.requests * 1e6)
    return result


def _wrk(target: Target, concurrency: int, seconds: float, tmp: Path) -> LoadResult:
    if b"]==]" in target.body:
        raise ValueError("the body cannot be embedded in a Lua long string")
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in target.headers.items())
    script = tmp / "post.lua"
    script.write_text(_LUA.format(body=target.body.decode(), headers=headers))
    argv = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        target.url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("LOADGEN "))
    data = orjson.loads(line[len("LOADGEN ") :])
    return LoadResult(
        "wrk",
        concurrency,
        data["requests"],
        data["duration_us"] / 1e6,
        data["errors"] + data["non_2xx"],
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
    )


def _python(target: Target, concurrency: int, seconds: float, tmp: Path) -> LoadResult:
    body = tmp / "body.json"
    body.write_bytes(target.body)
    argv = [sys.executable, "-m", "tests.bench.loadgen", target.url, str(body), "--concurrency", str(concurrency)]
    argv += ["--seconds", str(seconds)]
    for key, value in target.headers.items():
        argv += ["--header", f"{key}:{value}"]
    out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True).stdout
    data = orjson.loads(out.strip().splitlines()[-1])
    return LoadResult(
        "python", concurrency, data["requests"], data["seconds"], data["errors"], data["p50_ms"], data["p99_ms"]
    )


async def _drive(target: Target, concurrency: int, seconds: float) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    async with session.post(target.url, data=target.body, headers=dict(target.headers)) as response:
                        await response.read()
                        ok = response.status < 400
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - sent)
                errors += 0 if ok else 1

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "errors": errors,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="closed-loop POST load (the fallback when wrk is missing)")
    parser.add_argument("url")
    parser.add_argument("body_file")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    target = Target(args.url, Path(args.body_file).read_bytes(), headers)
    print(orjson.dumps(asyncio.run(_drive(target, args.concurrency, args.seconds))).decode())


if __name__ == "__main__":
    main()
