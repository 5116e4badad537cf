"""The executor: fallback loop -> retry loop -> one attempt. The only caller of transports.

Retry and fallback follow what providers publish:

* retry (same target, exponential backoff with jitter, ``Retry-After`` honoured) on the
  policy's ``[retry] on`` list: 429/5xx, timeouts, connection failures;
* fall back (next target in the plan) when retries are exhausted, on other 5xx, on an
  upstream 404, and on a context-length error - but then only to a target with a larger
  context window;
* never retry nor fall back on 400/401/403 or a content-policy refusal: those are the
  answer, returned to the client;
* a ``Retry-After`` longer than ``max_retry_after`` falls back instead of waiting.

A streamed attempt is committed when its first client-visible bytes exist; until then a
failure (including the time-to-first-byte deadline) may still fall back. After the commit
a failure ends the stream with the client format's in-band error, never a clean end.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field

from engine.canonical import Usage
from engine.errors import (
    AllUpstreamsFailed,
    AttemptSummary,
    FailureKind,
    GatewayError,
    UnsupportedFeature,
    UpstreamError,
)
from engine.exchange import Exchange, Relay
from engine.policy.compiled import CompiledPolicy, RetrySpec, Timeouts
from engine.routing.health import Health
from engine.routing.plan import Attempt, Plan
from engine.routing.transport import Transports, UpstreamResponse

ExchangeFactory = Callable[[Attempt], Exchange]
Sleep = Callable[[float], Awaitable[None]]

TERMINAL: frozenset[FailureKind] = frozenset({"bad_request", "content_filter", "auth"})
BREAKER_COUNTS: frozenset[FailureKind] = frozenset({"rate_limit", "server", "timeout", "connect", "stream_cut", "auth"})


@dataclass(slots=True)
class AttemptRecord:
    attempt: Attempt
    number: int  # 1-based across the whole request
    status: int | None
    failure: str | None
    message: str
    latency_ms: float
    ttfb_ms: float | None


@dataclass(slots=True)
class Outcome:
    """Shared by both result shapes: who served and what was tried."""

    attempt: Attempt
    records: list[AttemptRecord]
    attempts_made: int  # including the one that served
    usage: Usage | None = None
    error: GatewayError | None = None  # set when a committed stream failed


@dataclass(slots=True)
class Completed:
    outcome: Outcome
    body: bytes


@dataclass(slots=True)
class Streaming:
    outcome: Outcome
    first: bytes
    rest: AsyncGenerator[bytes, None]
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Try:
    """One upstream call in progress: what it calls, its number and its clock."""

    attempt: Attempt
    exchange: Exchange
    timeouts: Timeouts
    number: int  # 1-based across the whole request
    records: list[AttemptRecord]  # the request's, appended to when this call ends
    started: float = field(default_factory=time.perf_counter)
    ttfb_ms: float | None = None


def backoff_delay(retry: RetrySpec, try_index: int, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half fixed, half random."""
    cap: float = min(retry.backoff_max, retry.backoff_base * (2.0**try_index))
    return cap / 2 + rng.uniform(0, cap / 2)


def retryable(err: UpstreamError, retry: RetrySpec) -> bool:
    if err.failure == "timeout":
        return retry.on_timeout
    if err.failure in ("connect", "stream_cut"):
        return retry.on_connect
    if err.failure in ("rate_limit", "server"):
        return err.upstream_status in retry.on_status
    return False


class Executor:
    def __init__(
        self,
        transports: Transports,
        health: Health,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._transports = transports
        self._health = health
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def run(
        self,
        plan: Plan,
        policy: CompiledPolicy,
        make: ExchangeFactory,
        stream: bool,
        records: list[AttemptRecord] | None = None,
    ) -> Completed | Streaming:
        """Attempts are appended to ``records`` (the caller's list) as they finish."""
        records = [] if records is None else records
        unsupported: UnsupportedFeature | None = None
        context_floor: int | None = None  # after a context-length error: need a larger window
        context_error: UpstreamError | None = None
        for attempt in plan.attempts:
            if context_floor is not None and (attempt.context_window or 0) <= context_floor:
                continue
            try:
                exchange = make(attempt)
            except UnsupportedFeature as exc:
                unsupported = unsupported or exc
                continue
            channel = policy.channels[attempt.target.channel]
            for try_index in range(max(1, policy.retry.attempts)):
                call = _Try(attempt, exchange, channel.timeout, len(records) + 1, records)
                try:
                    return await self._once(call, stream, policy)
                except UpstreamError as err:
                    if err.failure in TERMINAL:
                        raise err from None
                    if err.failure == "context_length":
                        context_floor = attempt.context_window or 0
                        context_error = err
                        break
                    if not retryable(err, policy.retry) or try_index + 1 >= policy.retry.attempts:
                        break
                    if err.retry_after is not None and err.retry_after > policy.retry.max_retry_after:
                        break
                    delay = backoff_delay(policy.retry, try_index, self._rng)
                    if err.retry_after is not None:
                        delay = max(delay, err.retry_after)
                    await self._sleep(delay)
        if context_error is not None:
            raise context_error
        if not records and unsupported is not None:
            raise unsupported
        raise AllUpstreamsFailed(
            [
                AttemptSummary(
                    r.attempt.target.channel, r.attempt.target.model, r.failure or "error", r.status, r.message
                )
                for r in records
            ]
        )

    async def _once(self, call: _Try, stream: bool, policy: CompiledPolicy) -> Completed | Streaming:
        attempt, exchange, timeouts, started = call.attempt, call.exchange, call.timeouts, call.started
        channel, model = attempt.target.channel, attempt.target.model
        self._health.begin(channel, model)
        response: UpstreamResponse | None = None
        committed = False
        try:
            if not stream:
                status, headers, body, headers_after = await self._transports.fetch(exchange.request, timeouts)
                if status >= 400:
                    raise exchange.classify(status, headers, body)
                payload, usage = exchange.finish(body)
                latency = (time.perf_counter() - started) * 1000
                call.records.append(AttemptRecord(attempt, call.number, 200, None, "", latency, headers_after * 1000))
                self._health.success(channel, model, latency)
                return Completed(Outcome(attempt, call.records, call.number, usage), payload)
            response = await self._transports.send(exchange.request, timeouts)
            if response.status >= 400:
                body = await response.read()
                raise exchange.classify(response.status, response.headers, body)
            chunks = response.chunks()
            relay = exchange.relay()
            first = b""
            held = b""  # the rest of the chunk that carried the first frame: relayed right after it
            try:
                async with asyncio.timeout(max(0.0, timeouts.first_byte - (time.perf_counter() - started))):
                    async for chunk in chunks:
                        if call.ttfb_ms is None:
                            call.ttfb_ms = (time.perf_counter() - started) * 1000
                        head, held = first_frame(chunk)
                        first += relay.feed(head)
                        if not first and held:
                            first += relay.feed(held)
                            held = b""
                        if first:
                            break
                    else:
                        first += relay.close()
            except TimeoutError:
                await chunks.aclose()
                raise UpstreamError("timeout", f"no first byte within {timeouts.first_byte:g}s") from None
            if not first:
                raise UpstreamError("stream_cut", "upstream stream ended before any content")
            committed = True
            result = Streaming(Outcome(attempt, call.records, call.number, relay.usage), first, _empty())
            result.rest = self._rest(call, result, relay, chunks, held, policy)
            return result
        except UpstreamError as err:
            latency = (time.perf_counter() - started) * 1000
            call.records.append(
                AttemptRecord(attempt, call.number, err.upstream_status, err.failure, err.message, latency, None)
            )
            if err.failure in BREAKER_COUNTS:
                self._health.failure(channel, model, policy.breaker)
            raise
        finally:
            if not committed:
                self._health.end(channel, model)
                if response is not None:
                    response.close()

    async def _rest(
        self,
        call: _Try,
        result: Streaming,
        relay: Relay,
        chunks: AsyncGenerator[bytes, None],
        held: bytes,
        policy: CompiledPolicy,
    ) -> AsyncGenerator[bytes, None]:
        attempt = call.attempt
        channel, model = attempt.target.channel, attempt.target.model
        status: int | None = 200
        failure: str | None = None
        message = ""
        try:
            if held:
                out = relay.feed(held)
                if out:
                    yield out
            async for chunk in chunks:
                out = relay.feed(chunk)
                if out:
                    yield out
            tail = relay.close()
            if tail:
                yield tail
            self._health.success(channel, model, (time.perf_counter() - call.started) * 1000)
        except UpstreamError as err:
            status, failure, message = err.upstream_status, err.failure, err.message
            result.outcome.error = err
            if err.failure in BREAKER_COUNTS:
                self._health.failure(channel, model, policy.breaker)
            yield relay.error(err)
        finally:
            result.outcome.usage = relay.usage
            latency = (time.perf_counter() - call.started) * 1000
            result.outcome.records.append(
                AttemptRecord(attempt, call.number, status, failure, message, latency, call.ttfb_ms)
            )
            self._health.end(channel, model)
            await chunks.aclose()
            result.done.set()


def first_frame(chunk: bytes) -> tuple[bytes, bytes]:
    """``chunk`` split after its first SSE frame, so the first frame is relayed (and reaches
    the client) before the rest of a chunk that carried a whole burst is translated."""
    cut = chunk.find(b"\n\n") + 2
    if cut <= 1 or cut >= len(chunk):
        return chunk, b""
    return chunk[:cut], chunk[cut:]


async def _empty() -> AsyncGenerator[bytes, None]:
    return
    yield b""
