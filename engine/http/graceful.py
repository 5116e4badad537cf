"""Graceful shutdown under ``turnout serve``: in-flight answers get ``drain_timeout`` seconds
to finish, then are cut cleanly, and the usage log is flushed before the worker exits.

On SIGTERM (or Ctrl-C) Granian stops accepting connections and waits, without a bound,
for the ones open to finish before it runs the app's shutdown. ``GracefulGranian`` (Granian's process server) first
sends each worker ``DRAIN_SIGNAL``; the worker's lifespan (``engine.http.app``) then turns
``/readyz`` to 503 and tells its transports to end every upstream body within the drain
(a stream still running is ended with an error event in the client's own format, billed
for what it delivered). Once the connections close, the app's shutdown flushes the usage
log and the ledger. ``workers_kill_timeout`` is the last resort for a worker that hangs.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any

from granian.server import MPServer

DRAIN_SIGNAL = signal.SIGUSR1
KILL_MARGIN_S = 15  # after the drain: connections closing, the usage log flushing


class GracefulGranian(MPServer):
    def shutdown(self, exit_code: int = 0) -> None:
        for worker in list(self.wrks):
            pid = getattr(getattr(worker, "inner", None), "pid", None)  # worker processes (not threads)
            if isinstance(pid, int):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, DRAIN_SIGNAL)
        super().shutdown(exit_code)  # type: ignore[no-untyped-call]  # granian is untyped here


def kill_timeout(drain_timeout: float) -> int:
    """Seconds Granian waits for a worker to stop before killing it."""
    return int(drain_timeout) + KILL_MARGIN_S


def graceful_options(drain_timeout: float) -> dict[str, Any]:
    return {"workers_kill_timeout": kill_timeout(drain_timeout)}
