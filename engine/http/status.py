"""The ``/api/status`` document: policy version and reload state, channel health. Pure.

``status`` is ``degraded`` while the last reload failed (the previous policy keeps serving;
``policy.errors`` says why), else ``ok``. Warnings (a channel skipped for a missing key) are
listed apart from errors and do not degrade the status. ``canary`` is the canary's state
(serving, rolled back and why, the last statistics; ``engine.canary.monitor``) or null."""

from __future__ import annotations

from typing import Any

from engine import __version__
from engine.canary.monitor import CanaryMonitor
from engine.policy.store import PolicyStore
from engine.routing.health import Health


def status_document(store: PolicyStore, health: Health, canaries: CanaryMonitor | None = None) -> dict[str, Any]:
    policy = store.current
    live = health.snapshot()
    channels: dict[str, Any] = {}
    for name in sorted(policy.channels):
        channel = policy.channels[name]
        pairs = live.get(name, {})
        channels[name] = {
            "format": channel.format,
            "enabled": channel.enabled,
            "skip_reason": channel.skip_reason,
            "models": {
                model: {
                    "state": pairs[model].state if model in pairs else "closed",
                    "latency_p50_ms": pairs[model].p50_ms if model in pairs else None,
                    "latency_p95_ms": pairs[model].p95_ms if model in pairs else None,
                    "error_rate": round(pairs[model].error_rate, 4) if model in pairs else 0.0,
                    "in_flight": pairs[model].in_flight if model in pairs else 0,
                }
                for model in sorted(channel.models)
            },
        }
    return {
        "status": "degraded" if store.last_error else "ok",
        "turnout_version": __version__,
        "policy": {
            "version": policy.version,
            "loaded_at": store.loaded_at.isoformat(),
            "directory": policy.source_dir,
            "errors": list(store.last_error or []),
            "last_error": store.last_error,
            "last_error_at": store.last_error_at.isoformat() if store.last_error_at else None,
            "warnings": [str(w) for w in policy.warnings],
        },
        "canary": canaries.status(policy) if canaries is not None else None,
        "channels": channels,
    }
