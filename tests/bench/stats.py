"""Small statistics for the benchmarks: percentiles of a sample."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (which must already be sorted); 0.0 when empty."""
    if not values:
        return 0.0
    rank = max(0, min(len(values) - 1, math.ceil(pct / 100 * len(values)) - 1))
    return values[rank]
