"""One side's live statistics, and the rollback decision over both sides. Pure.

A side's requests are its request rows in the window (``engine.canary.window``). An error is
an answer with a 5xx status, or, on the canary, a request the canary could not answer and
the stable policy rescued (the client got an answer, the canary still failed it). A client
that hung up (499) or a client mistake (4xx) is not the policy's error. A fallback is a
request that needed more than one attempt (a retry, a fallback candidate or a hedge).
Latency is the whole request's, as the client saw it; cost is what was charged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from engine.policy.compiled import CelProgram


class Served(NamedTuple):
    """One request row, as the statistics read it."""

    status: int
    rescued: bool  # the canary failed it and the stable policy answered
    latency_ms: float
    cost_usd: float


@dataclass(frozen=True, slots=True)
class SideStats:
    requests: int = 0
    errors: int = 0
    fallbacks: int = 0
    p50_latency_ms: float = 0.0
    p95_latency_ms: float = 0.0
    cost_per_request: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def fallback_rate(self) -> float:
        return min(1.0, self.fallbacks / self.requests) if self.requests else 0.0

    def variables(self) -> dict[str, Any]:
        """The side as the rollback condition sees it (``canary.error_rate``...)."""
        return {**asdict(self), "error_rate": self.error_rate, "fallback_rate": self.fallback_rate}

    def describe(self) -> str:
        return (
            f"{self.requests} requests, error rate {self.error_rate:.1%}, fallback rate {self.fallback_rate:.1%}, "
            f"p95 {self.p95_latency_ms:.0f} ms, ${self.cost_per_request:.6f}/request"
        )


def is_error(row: Served) -> bool:
    return row.rescued or row.status >= 500


def side_stats(rows: Sequence[Served], fallbacks: int) -> SideStats:
    if not rows:
        return SideStats()
    latencies = sorted(r.latency_ms for r in rows)
    return SideStats(
        requests=len(rows),
        errors=sum(1 for r in rows if is_error(r)),
        fallbacks=fallbacks,
        p50_latency_ms=percentile(latencies, 0.50),
        p95_latency_ms=percentile(latencies, 0.95),
        cost_per_request=sum(r.cost_usd for r in rows) / len(rows),
    )


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (0.0 for none)."""
    if not ordered:
        return 0.0
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


def rollback_holds(condition: CelProgram, canary: SideStats, stable: SideStats) -> bool:
    """Whether ``condition`` holds; raises ``CelEvalError`` when it cannot be evaluated."""
    return bool(condition.evaluate({"canary": canary.variables(), "stable": stable.variables()}))
