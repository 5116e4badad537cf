"""The processes of ``bench_streams``: children in their own process groups, the harness's
priority over the gateway, the environment, ``turnout check``, the upstream's JSON
endpoints and a process's resident memory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import orjson

from tests.bench.procs import BENCH_KEY, REPO, TURNOUT

HARNESS_NICE = -10
AUTOGROUP = Path("/proc/self/autogroup")


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
