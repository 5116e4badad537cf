"""``/readyz``: whether this worker can serve now (a policy loaded, the database and Redis reachable).

``/healthz`` says the process is alive; readiness is what a load balancer or a Kubernetes
readiness probe asks before sending traffic. Each dependency is checked with a short timeout
on every call (probes come every few seconds), so readiness turns false when the database
stops and true again when it returns, with no state kept between calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from engine.policy.store import PolicyStore

Probe = Callable[[float], Awaitable[dict[str, str | None]]]  # timeout -> {component: None or why not}

PROBE_TIMEOUT_S = 1.0


async def readiness(
    store: PolicyStore | None, probe: Probe | None, *, draining: bool = False
) -> tuple[bool, dict[str, Any]]:
    """``(ready, document)``: the document names every check and, for a failed one, why.
    A worker that is shutting down (``draining``) is not ready: take it out of rotation."""
    checks: dict[str, dict[str, Any]] = {}
    if draining:
        checks["shutdown"] = {"ok": False, "error": "shutting down: finishing in-flight answers"}
    if store is None:
        checks["policy"] = {"ok": False, "error": "the gateway is still starting"}
    else:
        checks["policy"] = {"ok": True, "version": store.current.version}
        if probe is not None:
            for component, problem in (await probe(PROBE_TIMEOUT_S)).items():
                checks[component] = {"ok": True} if problem is None else {"ok": False, "error": problem}
    ready = all(check["ok"] for check in checks.values())
    return ready, {"status": "ready" if ready else "not ready", "checks": checks}
