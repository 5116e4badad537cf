"""Live health of every channel+model pair: latency, error rate, in-flight, circuit breaker.

One ``Health`` object per worker, owned by the app and passed to the router (read-only
views) and the executor (which records outcomes). Breakers are per channel AND model:
one model failing on a channel does not take the channel's other models down.

Breaker states: closed -> (``failures`` consecutive failures) -> open for ``cooldown``
seconds -> half-open: one probe request is let through; success closes, failure re-opens.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from engine.policy.compiled import BreakerSpec

BreakerState = Literal["closed", "open", "half-open"]
WINDOW = 128  # latency samples kept per pair
ERROR_ALPHA = 0.1  # weight of the newest outcome in the error-rate EWMA


@dataclass(slots=True)
class PairHealth:
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    error_rate: float = 0.0
    in_flight: int = 0
    consecutive_failures: int = 0
    open_until: float = 0.0
    probing: bool = False
    _sorted: list[float] | None = None

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        if self._sorted is None:
            self._sorted = sorted(self.latencies)
        data = self._sorted
        return data[min(len(data) - 1, int(q * len(data)))]


@dataclass(frozen=True, slots=True)
class PairView:
    p50_ms: float | None
    p95_ms: float | None
    error_rate: float
    in_flight: int
    state: BreakerState


class Health:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._pairs: dict[tuple[str, str], PairHealth] = {}
        self._channel_in_flight: dict[str, int] = {}
        self._clock = clock

    def _pair(self, channel: str, model: str) -> PairHealth:
        key = (channel, model)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pairs[key] = PairHealth()
        return pair

    def state(self, channel: str, model: str) -> BreakerState:
        pair = self._pairs.get((channel, model))
        if pair is None or pair.open_until == 0.0:
            return "closed"
        if self._clock() < pair.open_until:
            return "open"
        return "half-open"

    def cooldown_left(self, channel: str, model: str) -> float:
        """Seconds until an open breaker lets a probe through (0 when it is not open)."""
        pair = self._pairs.get((channel, model))
        if pair is None:
            return 0.0
        return max(0.0, pair.open_until - self._clock())

    def available(self, channel: str, model: str) -> bool:
        """False while the breaker is open, or half-open with its probe already out."""
        state = self.state(channel, model)
        if state == "open":
            return False
        if state == "half-open":
            return not self._pair(channel, model).probing
        return True

    def probe_out(self, channel: str, model: str) -> bool:
        """A half-open pair whose one probe is already in flight: nobody else may go."""
        return self.state(channel, model) == "half-open" and self._pair(channel, model).probing

    def view(self, channel: str, model: str) -> PairView:
        pair = self._pairs.get((channel, model))
        if pair is None:
            return PairView(None, None, 0.0, 0, "closed")
        return PairView(
            pair.percentile(0.5), pair.percentile(0.95), pair.error_rate, pair.in_flight, self.state(channel, model)
        )

    def channel_in_flight(self, channel: str) -> int:
        """Requests this worker has in flight on the channel, all models together."""
        return self._channel_in_flight.get(channel, 0)

    def begin(self, channel: str, model: str) -> None:
        pair = self._pair(channel, model)
        pair.in_flight += 1
        self._channel_in_flight[channel] = self._channel_in_flight.get(channel, 0) + 1
        if self.state(channel, model) == "half-open":
            pair.probing = True

    def end(self, channel: str, model: str) -> None:
        """An attempt is over. A half-open probe that ended without a verdict (the client
        went away, a terminal 4xx, a hedge it lost) frees the probe slot for the next one."""
        pair = self._pair(channel, model)
        pair.in_flight = max(0, pair.in_flight - 1)
        pair.probing = False
        self._channel_in_flight[channel] = max(0, self._channel_in_flight.get(channel, 0) - 1)

    def success(self, channel: str, model: str, latency_ms: float) -> None:
        pair = self._pair(channel, model)
        pair.latencies.append(latency_ms)
        pair._sorted = None
        pair.error_rate *= 1.0 - ERROR_ALPHA
        pair.consecutive_failures = 0
        pair.open_until = 0.0
        pair.probing = False

    def failure(self, channel: str, model: str, breaker: BreakerSpec) -> None:
        pair = self._pair(channel, model)
        pair.error_rate = pair.error_rate * (1.0 - ERROR_ALPHA) + ERROR_ALPHA
        pair.consecutive_failures += 1
        was_probe = pair.probing
        pair.probing = False
        if was_probe or pair.consecutive_failures >= breaker.failures:
            pair.open_until = self._clock() + breaker.cooldown

    def open_pairs(self) -> frozenset[tuple[str, str]]:
        """The (channel, model) pairs whose breaker is open now."""
        return frozenset(pair for pair in self._pairs if self.view(*pair).state == "open")

    def snapshot(self) -> dict[str, dict[str, PairView]]:
        out: dict[str, dict[str, PairView]] = {}
        for channel, model in sorted(self._pairs):
            out.setdefault(channel, {})[model] = self.view(channel, model)
        return out
