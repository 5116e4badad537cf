"""The directory where the workers of one server share their metric values.

``turnout serve`` calls ``prepare()`` before Granian starts any worker: it names the
directory in ``PROMETHEUS_MULTIPROC_DIR`` (which prometheus_client reads when it is first
imported, so this must happen before that) and empties it, so one server's series never
mix with an earlier run's. The directory is the operator's ``PROMETHEUS_MULTIPROC_DIR``
when set, else a fresh temporary directory that ``cleanup()`` removes when the server stops.
A worker that starts calls ``forget_dead_workers()``: the in-flight gauges of a worker that
died without a clean stop would otherwise stay in the sums.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


class MetricsDir(NamedTuple):
    path: Path
    owned: bool  # made here (a temp dir): removed at the end


def prepare(environ: dict[str, str] | os._Environ[str]) -> MetricsDir:
    """The directory for this server's workers, emptied, and named in ``environ``."""
    given = environ.get(ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return MetricsDir(path, False)
    path = Path(tempfile.mkdtemp(prefix="turnout-metrics-"))
    environ[ENV] = str(path)
    return MetricsDir(path, True)


def cleanup(directory: MetricsDir) -> None:
    if directory.owned:
        shutil.rmtree(directory.path, ignore_errors=True)


def forget_dead_workers(path: Path) -> list[int]:
    """Remove the live-gauge files of processes that no longer run; their pids."""
    gone: list[int] = []
    for file in path.glob("gauge_live*.db"):
        match = _LIVE_FILE.match(file.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if not _alive(pid):
            file.unlink(missing_ok=True)
            gone.append(pid)
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
