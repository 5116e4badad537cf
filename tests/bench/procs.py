"""The benchmark's server processes: the mock upstream and Turnout, each in its own process
group on a free port, with a generated policy, stopped (by their own pid) on exit.

``bench_stack(...)`` is the one entry point the benches use::

    with bench_stack(tmp, models) as stack:
        stack.mock_url      # http://127.0.0.1:P   (the mock's root)
        stack.gateway_url   # http://127.0.0.1:Q   (Turnout's root)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TURNOUT = REPO / ".venv" / "bin" / "turnout"
BENCH_KEY = "sk-bench-gateway"
# What ``turnout serve`` runs, without the CLI (``launch="granian"``): for when the CLI is
# mid-change, or to try Granian options (``BENCH_GRANIAN_KW``: JSON keyword arguments,
# e.g. '{"loop": "asyncio", "task_impl": "rust"}'; they override ``granian_tuning()``).
_GRANIAN = (
    "import json, os, sys; from granian import Granian; from granian.constants import Interfaces; "
    "from engine.cli import granian_tuning; "
    "kw = {**granian_tuning(), **json.loads(os.environ.get('BENCH_GRANIAN_KW') or '{}')}; "
    "Granian('engine.http.app:create_app', address='127.0.0.1', port=int(sys.argv[1]), interface=Interfaces.ASGI, "
    "workers=1, factory=True, log_enabled=False, **kw).serve()"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Until ``url`` answers (any HTTP status), or fail with the process's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:g}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process group this module started (Granian forks its worker into it)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _spawn(argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(argv, cwd=REPO, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def write_policy(
    directory: Path, mock_root: str, models: Mapping[str, str], kinds: Mapping[str, str] | None = None
) -> None:
    """One OpenAI-format channel to the mock serving ``models`` (public id -> upstream id);
    ``kinds`` names the models that are not chat models (``embedding``)."""
    directory.mkdir(parents=True, exist_ok=True)
    table = ", ".join(f'"{public}" = "{upstream}"' for public, upstream in models.items())
    lines = [
        "[channels.mock]",
        'format = "openai"',
        f'base_url = "{mock_root}/v1"',
        'api_key = "${MOCK_KEY}"',
        f"models = {{ {table} }}",
        "",
    ]
    for public in models:
        if (kinds or {}).get(public) == "embedding":
            lines += [f'[models."{public}"]', 'kind = "embedding"', "price = { input = 0.02 }", ""]
            continue
        lines += [
            f'[models."{public}"]',
            "price = { input = 1.0, output = 2.0 }",
            "context_window = 128000",
            'capabilities = ["tools", "json", "vision", "stream"]',
            "",
        ]
    (directory / "policy.toml").write_text("\n".join(lines))


@dataclass(frozen=True, slots=True)
class Stack:
    mock_url: str
    gateway_url: str
    gateway_pid: int
    logs: Path
    floor_url: str | None = None  # the minimal forwarding proxy (see floor_proxy.py), if started
    floor_pid: int | None = None


@contextlib.contextmanager
def bench_stack(
    workdir: Path,
    models: Mapping[str, str],
    *,
    mock_server: str = "granian-rsgi",
    launch: str = "cli",
    floor: bool = False,
    extra_env: Mapping[str, str] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """Start the mock and a 1-worker Turnout in front of it; stop both on exit.

    ``launch``: ``cli`` runs ``turnout serve``; ``granian`` starts the same app factory
    with Granian directly (environment ``BENCH_LAUNCH`` overrides). ``floor`` also starts
    the minimal forwarding proxy in front of the mock."""
    launch = os.environ.get("BENCH_LAUNCH", launch)
    mock_port, gateway_port = free_port(), free_port()
    mock_root = f"http://127.0.0.1:{mock_port}"
    gateway_root = f"http://127.0.0.1:{gateway_port}"
    policies = workdir / "policies"
    write_policy(policies, mock_root, models, kinds)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(
        {
            "MOCK_KEY": "sk-mock-upstream",
            "TURNOUT_DATA_DIR": str(workdir / "data"),
            "TURNOUT_API_KEYS": BENCH_KEY,
            "TURNOUT_LOG_LEVEL": "warning",
            "TURNOUT_WORKERS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env or {})
    mock = _spawn(
        [sys.executable, "-m", "tests.bench.mock_upstream", "--port", str(mock_port), "--server", mock_server],
        env,
        workdir / "mock.log",
    )
    gateway: subprocess.Popen[bytes] | None = None
    floor_proc: subprocess.Popen[bytes] | None = None
    try:
        wait_http(f"{mock_root}/healthz", mock)
        floor_root = None
        if floor:
            floor_port = free_port()
            floor_root = f"http://127.0.0.1:{floor_port}"
            floor_argv = [sys.executable, "-m", "tests.bench.floor_proxy", "--port", str(floor_port)]
            floor_proc = _spawn(floor_argv, {**env, "FLOOR_UPSTREAM": mock_root}, workdir / "floor.log")
            wait_http(f"{floor_root}/healthz", floor_proc)
        env["TURNOUT_POLICY_DIR"] = str(policies)
        if launch == "granian":
            argv = [sys.executable, "-c", _GRANIAN, str(gateway_port)]
        else:
            argv = [str(TURNOUT), "serve", "--port", str(gateway_port), "--policies", str(policies)]
        gateway = _spawn(argv, env, workdir / "turnout.log")
        try:
            wait_http(f"{gateway_root}/healthz", gateway)
        except RuntimeError as exc:
            tail = (workdir / "turnout.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n--- turnout output ---\n{tail}") from None
        yield Stack(mock_root, gateway_root, gateway.pid, workdir, floor_root, floor_proc.pid if floor_proc else None)
    finally:
        if gateway is not None:
            _stop(gateway)
        if floor_proc is not None:
            _stop(floor_proc)
        _stop(mock)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its direct children (Granian's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for one in [pid, *map(int, children)]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def loop_thread_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the event-loop thread of ``pid``'s Granian worker (the
    worker's main thread): the one thread a worker's throughput is bounded by."""
    worker = worker_pid(pid)
    fields = Path(f"/proc/{worker}/task/{worker}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(parent: int) -> int:
    """The Granian worker process under ``parent`` (the one that serves requests)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return int(children[0]) if children else parent
