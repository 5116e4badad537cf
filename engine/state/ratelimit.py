"""Per-key rate limits (requests/min, tokens/min, concurrent requests) and their headers.

Requests and tokens are token buckets that hold a minute's allowance and refill
continuously (``rpm/60`` per second): a fresh key may burst its whole minute, then gets
the steady rate. A request needs one request token and ``min(estimated, tpm)`` tokens;
its estimate is taken at admission and corrected by ``release``. Concurrency is a set of
leased slots, released explicitly (leases expire after 15 min in case a replica dies).

``LocalRateLimiter`` is for one process; ``engine.state.ratelimit_redis`` shares limits
between replicas. Both implement ``RateLimiter``.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from engine.errors import RateLimited

Exceeded = Literal["requests", "tokens", "concurrent"]
SLOT_LEASE_S = 900.0


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None
    concurrent: int | None = None

    @property
    def any(self) -> bool:
        return bool(self.rpm or self.tpm or self.concurrent)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    exceeded: Exceeded | None = None
    remaining_requests: float | None = None  # bucket level after this request (None: no rpm)
    remaining_tokens: float | None = None
    in_flight: int | None = None
    retry_after_s: float = 0.0
    slot: str | None = None  # held concurrency slot, to pass to release


class RateLimiter(Protocol):
    async def admit(self, subject: str, limits: Limits, tokens: int) -> Decision: ...

    async def release(self, subject: str, limits: Limits, slot: str | None, token_delta: int) -> None:
        """Free ``slot`` and correct the token bucket by ``used - estimated`` tokens."""
        ...

    async def close(self) -> None: ...


def _duration(seconds: float) -> str:
    """Seconds as OpenAI writes them in reset headers: ``20ms``, ``1.5s``, ``6m0s``."""
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{rest_text}s" if minutes else f"{rest_text}s"


def rate_headers(limits: Limits, decision: Decision) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, cap, level in (
        ("requests", limits.rpm, decision.remaining_requests),
        ("tokens", limits.tpm, decision.remaining_tokens),
    ):
        if not cap or level is None:
            continue
        headers[f"x-ratelimit-limit-{name}"] = str(cap)
        headers[f"x-ratelimit-remaining-{name}"] = str(max(math.floor(level), 0))
        headers[f"x-ratelimit-reset-{name}"] = _duration((cap - level) * 60.0 / cap)
    return headers


def rejection(limits: Limits, decision: Decision) -> RateLimited:
    """The 429 for a refused ``decision``, with ``Retry-After`` and the rate-limit headers."""
    what = {
        "requests": f"{limits.rpm} requests per minute",
        "tokens": f"{limits.tpm} tokens per minute",
        "concurrent": f"{limits.concurrent} concurrent requests",
    }[decision.exceeded or "requests"]
    retry = max(math.ceil(decision.retry_after_s), 1)
    headers = {"Retry-After": str(retry), **rate_headers(limits, decision)}
    return RateLimited(
        f"rate limit reached for this key: {what}; retry in {retry} s",
        code="rate_limit_exceeded",
        headers=headers,
    )


@dataclass(slots=True)
class _Bucket:
    level: float
    at: float

    def refill(self, cap: int, now: float) -> float:
        self.level = min(float(cap), self.level + max(now - self.at, 0.0) * cap / 60.0)
        self.at = now
        return self.level


@dataclass(slots=True)
class _Subject:
    requests: _Bucket | None = None
    tokens: _Bucket | None = None
    slots: dict[str, float] = field(default_factory=dict)  # slot -> lease expiry


class LocalRateLimiter:
    """Limits kept in this process's memory; correct for a single worker only."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._subjects: dict[str, _Subject] = {}
        self._slot_ids = itertools.count(1)

    async def admit(self, subject: str, limits: Limits, tokens: int) -> Decision:
        if not limits.any:
            return Decision(True)
        now = self._clock()
        state = self._subjects.setdefault(subject, _Subject())
        requests = tokens_left = None
        in_flight = None
        exceeded: Exceeded | None = None
        retry = 0.0
        if limits.rpm:
            state.requests = state.requests or _Bucket(float(limits.rpm), now)
            requests = state.requests.refill(limits.rpm, now)
            if requests < 1:
                exceeded, retry = "requests", (1 - requests) * 60.0 / limits.rpm
        if limits.tpm:
            state.tokens = state.tokens or _Bucket(float(limits.tpm), now)
            tokens_left = state.tokens.refill(limits.tpm, now)
            need = min(max(tokens, 0), limits.tpm)
            if exceeded is None and tokens_left < need:
                exceeded, retry = "tokens", (need - tokens_left) * 60.0 / limits.tpm
        if limits.concurrent:
            state.slots = {s: exp for s, exp in state.slots.items() if exp > now}
            in_flight = len(state.slots)
            if exceeded is None and in_flight >= limits.concurrent:
                exceeded, retry = "concurrent", 1.0
        if exceeded is not None:
            return Decision(False, exceeded, requests, tokens_left, in_flight, retry)
        slot = None
        if state.requests is not None and requests is not None:
            requests = state.requests.level = requests - 1
        if state.tokens is not None and tokens_left is not None:
            tokens_left = state.tokens.level = tokens_left - max(tokens, 0)
        if limits.concurrent:
            slot = str(next(self._slot_ids))
            state.slots[slot] = now + SLOT_LEASE_S
            in_flight = len(state.slots)
        return Decision(True, None, requests, tokens_left, in_flight, 0.0, slot)

    async def release(self, subject: str, limits: Limits, slot: str | None, token_delta: int) -> None:
        state = self._subjects.get(subject)
        if state is None:
            return
        if slot is not None:
            state.slots.pop(slot, None)
        if token_delta and limits.tpm and state.tokens is not None:
            state.tokens.refill(limits.tpm, self._clock())
            state.tokens.level = min(float(limits.tpm), state.tokens.level - token_delta)

    async def close(self) -> None:
        self._subjects.clear()
