"""Rate limits shared by every replica through Redis: one atomic Lua script per admission.

The admit script refills and checks the request bucket, the token bucket and the
concurrency slots of a key, and takes all three or none, in a single round trip; release
is one more. The clock is Redis's own (``TIME``), so replicas need not agree on time.
Semantics are those of ``engine.state.ratelimit.LocalRateLimiter``.
"""

from __future__ import annotations

import logging
import secrets

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.errors import GatewayError
from engine.state.ratelimit import SLOT_LEASE_S, Decision, Exceeded, Limits

_LEVEL = """
local function level(key, cap, now)
  local v = redis.call('HMGET', key, 'l', 't')
  local l, t = tonumber(v[1]), tonumber(v[2])
  if l == nil then return cap end
  return math.min(cap, l + math.max(0, now - t) * cap / 60)
end
local function store(key, cap, l, now)
  redis.call('HSET', key, 'l', tostring(l), 't', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(60000 * (cap - l) / cap) + 1000)
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
"""

# KEYS: requests bucket, tokens bucket, slots; ARGV: rpm, tpm, concurrent, tokens, slot, lease
_ADMIT = (
    _LEVEL
    + """
local rpm, tpm, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, slot, lease = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local rl, tl, inflight, fail, retry = -1, -1, -1, '', 0
if rpm > 0 then
  rl = level(KEYS[1], rpm, now)
  if rl < 1 then fail, retry = 'requests', (1 - rl) * 60 / rpm end
end
if tpm > 0 then
  tl = level(KEYS[2], tpm, now)
  local need = math.min(tokens, tpm)
  if fail == '' and tl < need then fail, retry = 'tokens', (need - tl) * 60 / tpm end
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  inflight = redis.call('ZCARD', KEYS[3])
  if fail == '' and inflight >= conc then fail, retry = 'concurrent', 1 end
end
if fail == '' then
  if rpm > 0 then rl = rl - 1; store(KEYS[1], rpm, rl, now) end
  if tpm > 0 then tl = tl - tokens; store(KEYS[2], tpm, tl, now) end
  if conc > 0 then
    redis.call('ZADD', KEYS[3], now + lease, slot)
    redis.call('PEXPIRE', KEYS[3], math.ceil(lease * 1000))
    inflight = inflight + 1
  end
end
return {fail, tostring(rl), tostring(tl), inflight, tostring(retry)}
"""
)

# KEYS: tokens bucket, slots; ARGV: tpm, token delta, slot
_RELEASE = (
    _LEVEL
    + """
local tpm, delta, slot = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if slot ~= '' then redis.call('ZREM', KEYS[2], slot) end
if tpm > 0 and delta ~= 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  store(KEYS[1], tpm, math.min(tpm, level(KEYS[1], tpm, now) - delta), now)
end
return 1
"""
)


log = logging.getLogger(__name__)
_EXCEEDED: dict[str, Exceeded] = {"requests": "requests", "tokens": "tokens", "concurrent": "concurrent"}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._admit = redis.register_script(_ADMIT)
        self._release = redis.register_script(_RELEASE)

    def _keys(self, subject: str) -> list[str]:
        base = f"{self._prefix}rl:{{{subject}}}"  # one hash slot per key in Redis Cluster
        return [f"{base}:r", f"{base}:t", f"{base}:c"]

    async def admit(self, subject: str, limits: Limits, tokens: int) -> Decision:
        if not limits.any:
            return Decision(True)
        slot = secrets.token_hex(8) if limits.concurrent else ""
        args: list[str | int | float] = [
            limits.rpm or 0,
            limits.tpm or 0,
            limits.concurrent or 0,
            max(tokens, 0),
            slot,
            SLOT_LEASE_S,
        ]
        try:
            fail, requests, tokens_left, in_flight, retry = await self._admit(keys=self._keys(subject), args=args)
        except (RedisError, OSError) as exc:  # fail closed, and say why
            raise GatewayError(
                f"rate limiter unavailable (Redis: {exc}); try again shortly", status=503, kind="overloaded"
            ) from exc
        exceeded = _EXCEEDED.get(_text(fail))
        return Decision(
            allowed=exceeded is None,
            exceeded=exceeded,
            remaining_requests=float(_text(requests)) if limits.rpm else None,
            remaining_tokens=float(_text(tokens_left)) if limits.tpm else None,
            in_flight=int(in_flight) if limits.concurrent else None,
            retry_after_s=float(_text(retry)),
            slot=slot if exceeded is None and slot else None,
        )

    async def release(self, subject: str, limits: Limits, slot: str | None, token_delta: int) -> None:
        if slot is None and not (token_delta and limits.tpm):
            return
        keys = self._keys(subject)
        try:
            await self._release(keys=[keys[1], keys[2]], args=[limits.tpm or 0, token_delta, slot or ""])
        except (RedisError, OSError) as exc:
            log.warning(
                "could not release a rate-limit slot on Redis (%s); its lease expires in %d s", exc, SLOT_LEASE_S
            )

    async def close(self) -> None:
        return None
