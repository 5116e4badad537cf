"""The real gateway as a child process, for end-to-end tests.

``start_gateway(policy_dir)`` runs ``python -m engine serve`` on a free loopback port with
a clean environment (PATH, HOME and locale from the outer one, never provider keys or
``TURNOUT_*`` settings), waits for ``GET /healthz`` to answer 200 and returns a
``GatewayProcess``: ``.base_url``, ``.logs()``, ``.stop()``, usable as a context manager.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.ports import free_port

# The only variables inherited from the outer environment.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1


class GatewayStartError(RuntimeError):
    pass


class GatewayProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int, workdir: Path, owns_workdir: bool) -> None:
        self.process = process
        self.port = port
        self.workdir = workdir
        self._owns_workdir = owns_workdir

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def logs(self) -> str:
        """Everything the process wrote so far, stdout then stderr."""
        parts = []
        for name in ("stdout.log", "stderr.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL the process group this gateway started."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _kill_group(self.process.pid)
                self.process.wait(STOP_TIMEOUT)
        _kill_group(self.process.pid)  # worker processes left behind, if any
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the test process dies (Linux), so an
    interrupted test run leaves no gateway behind."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def gateway_env(env: Mapping[str, str] | None, data_dir: Path) -> dict[str, str]:
    """The child's environment: a few inherited basics, a data dir, then ``env``."""
    clean = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    clean["PYTHONUNBUFFERED"] = "1"
    clean["TURNOUT_DATA_DIR"] = str(data_dir)
    clean.update(env or {})
    return clean


def start_gateway(
    policy_dir: Path,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    extra_args: Sequence[str] = (),
    *,
    workdir: Path | None = None,
) -> GatewayProcess:
    """Start the gateway and wait until it is healthy.

    ``workdir`` (default: a fresh temp dir, removed on stop) is the process's working
    directory, holds its logs and is the default ``TURNOUT_DATA_DIR``. Raises
    ``GatewayStartError`` with the process output when it does not become healthy.
    """
    owns = workdir is None
    work = Path(tempfile.mkdtemp(prefix="turnout-e2e-")) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "data"
    data_dir.mkdir(exist_ok=True)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "engine",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--policies",
        str(policy_dir),
        "--workers",
        str(workers),
        *extra_args,
    ]
    with open(work / "stdout.log", "wb") as out, open(work / "stderr.log", "wb") as err:
        process = subprocess.Popen(
            command,
            cwd=work,
            env=gateway_env(env, data_dir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    gateway = GatewayProcess(process, port, work, owns)
    try:
        _wait_healthy(gateway)
    except GatewayStartError as exc:
        logs = gateway.logs()
        gateway.stop()
        raise GatewayStartError(f"gateway did not become healthy ({exc}): {' '.join(command)}\n{logs}") from None
    except BaseException:
        gateway.stop()
        raise
    return gateway


def _wait_healthy(gateway: GatewayProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if not gateway.running:
                raise GatewayStartError(f"exited with code {gateway.process.returncode}")
            try:
                if client.get(f"{gateway.base_url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise GatewayStartError(f"no 200 from /healthz within {START_TIMEOUT:.0f} s")
