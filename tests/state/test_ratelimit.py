"""Rate limits on both backends: exact admission counts, concurrency slots, token accounting."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from engine.errors import GatewayError
from engine.state.ratelimit import (
    Limits,
    LocalRateLimiter,
    RateLimiter,
    rate_headers,
    rejection,
)
from engine.state.ratelimit_redis import RedisRateLimiter
from tests.state.conftest import REDIS_URL, delete_redis_prefix


@pytest.fixture(params=["local", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "local":
        yield LocalRateLimiter()
        return
    prefix = f"turnout-test:{secrets.token_hex(6)}:"
    redis = Redis.from_url(REDIS_URL)
    try:
        yield RedisRateLimiter(redis, prefix)
    finally:
        await redis.aclose()
        await delete_redis_prefix(prefix)


async def test_ten_rpm_admits_exactly_ten_of_fifteen(limiter: RateLimiter) -> None:
    limits = Limits(rpm=10)
    decisions = await asyncio.gather(*(limiter.admit("key-a", limits, 0) for _ in range(15)))
    assert sum(d.allowed for d in decisions) == 10
    refused = [d for d in decisions if not d.allowed]
    assert all(d.exceeded == "requests" for d in refused)
    error = rejection(limits, refused[0])
    assert error.status == 429
    assert error.headers["x-ratelimit-limit-requests"] == "10"
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert 1 <= int(error.headers["Retry-After"]) <= 6  # one request refills every 6 s
    # another key has its own bucket
    assert (await limiter.admit("key-b", limits, 0)).allowed


async def test_concurrency_slots_are_released(limiter: RateLimiter) -> None:
    limits = Limits(concurrent=3)
    held = await asyncio.gather(*(limiter.admit("key-c", limits, 0) for _ in range(5)))
    admitted = [d for d in held if d.allowed]
    assert len(admitted) == 3 and all(d.slot for d in admitted)
    assert {d.exceeded for d in held if not d.allowed} == {"concurrent"}
    await limiter.release("key-c", limits, admitted[0].slot, 0)
    again = await limiter.admit("key-c", limits, 0)
    assert again.allowed and again.in_flight == 3
    assert not (await limiter.admit("key-c", limits, 0)).allowed
    for decision in (*admitted[1:], again):
        await limiter.release("key-c", limits, decision.slot, 0)
    results = await asyncio.gather(*(limiter.admit("key-c", limits, 0) for _ in range(3)))
    assert all(d.allowed for d in results)


async def test_token_budget_and_correction(limiter: RateLimiter) -> None:
    limits = Limits(tpm=1000)
    first = await limiter.admit("key-t", limits, 600)
    assert first.allowed and first.remaining_tokens is not None and 399 <= first.remaining_tokens <= 401
    refused = await limiter.admit("key-t", limits, 600)
    assert not refused.allowed and refused.exceeded == "tokens"
    assert rate_headers(limits, refused)["x-ratelimit-limit-tokens"] == "1000"
    # the first request used only 100 of its estimated 600 tokens: 500 come back
    await limiter.release("key-t", limits, None, 100 - 600)
    assert (await limiter.admit("key-t", limits, 600)).allowed


async def test_all_limits_or_none(limiter: RateLimiter) -> None:
    """A request refused on tokens consumes no request and no slot."""
    limits = Limits(rpm=5, tpm=100, concurrent=2)
    assert (await limiter.admit("key-m", limits, 90)).allowed
    refused = await limiter.admit("key-m", limits, 90)
    assert refused.exceeded == "tokens" and refused.slot is None
    assert refused.remaining_requests is not None and 3.9 < refused.remaining_requests < 4.1
    assert refused.in_flight == 1


async def test_refill_over_time_with_a_clock() -> None:
    now = [1000.0]
    limiter = LocalRateLimiter(clock=lambda: now[0])
    limits = Limits(rpm=10)
    assert sum([(await limiter.admit("k", limits, 0)).allowed for _ in range(12)]) == 10
    now[0] += 6.0  # one request's worth
    assert (await limiter.admit("k", limits, 0)).allowed
    assert not (await limiter.admit("k", limits, 0)).allowed
    now[0] += 60.0
    decision = await limiter.admit("k", limits, 0)
    assert decision.allowed and rate_headers(limits, decision)["x-ratelimit-remaining-requests"] == "9"
    assert rate_headers(limits, decision)["x-ratelimit-reset-requests"] == "6s"


async def test_redis_down_fails_closed_with_a_clear_error() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0")
    try:
        limiter = RedisRateLimiter(redis, "turnout-test:down:")
        with pytest.raises(GatewayError) as caught:
            await limiter.admit("k", Limits(rpm=1), 0)
        assert caught.value.status == 503 and "rate limiter unavailable" in caught.value.message
    finally:
        await redis.aclose()
