"""The executor: candidates -> tries -> one upstream call. The only caller of transports.

Before the client sees a byte (``engine.routing.verdicts`` has the rules):

* the plan's candidates are tried in order; each is retried with backoff on what the
  policy's ``[retry] on`` lists, never after a timeout (a silent candidate is not asked
  again: the next starts at once), and never on a terminal refusal (400, content policy,
  the upstream's auth), which is the answer; a context-length error moves on only to a
  candidate with a larger window;
* with an alias's ``hedge``, a candidate that has no first token after ``after`` seconds
  gets the next candidate racing it; the first to produce a token wins and the other is
  cancelled at once (its attempt is logged as ``hedge_lost``, the key pays only the winner);
* a stream is committed at its first token, or, with a ``stream_buffer``, once the buffer
  window has passed (``full``: at its end); a failure before the commit moves on to the next
  candidate invisibly.

After the commit (``_rest``): a cut, a stall past the idle timeout or an upstream in-band
error resumes on the next candidate that declares ``prefill`` (``engine.resume``), writing
only the continuation into the same client stream; otherwise the stream ends with the
client format's in-band error, never a clean end. When every attempt failed the client gets
429 (all rate-limited, with Retry-After), 504 (all timed out) or 502, naming each attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from engine.errors import NoRoute, UnsupportedFeature, UpstreamError
from engine.exchange import Exchange, Relay
from engine.policy.compiled import CompiledPolicy, Timeouts
from engine.resume import Continuation, Transcript, why_not_resumable
from engine.routing.events import NO_EVENTS, RoutingEvents
from engine.routing.health import Health
from engine.routing.outcome import AttemptRecord, Completed, Outcome, Streaming
from engine.routing.plan import Attempt, Plan
from engine.routing.transport import Transports
from engine.routing.upstream_call import Live, Try, feed_frames, hold, open_stream
from engine.routing.verdicts import BREAKER_COUNTS, RESUMABLE, TERMINAL, all_failed, retry_delay

__all__ = ["AttemptRecord", "Completed", "ExchangeFactory", "Executor", "Outcome", "ResumeFactory", "Streaming"]

log = logging.getLogger("turnout.executor")

ExchangeFactory = Callable[[Attempt], Exchange]
# How a cut stream continues on ``attempt``: the exchange re-sending the conversation with the
# partial answer (``Transcript``) as a prefill, and the mapping onto the client's stream,
# given the records of the attempts the client already got output from.
ResumeFactory = Callable[[Attempt, Transcript, list[AttemptRecord]], tuple[Exchange, Continuation]]
Sleep = Callable[[float], Awaitable[None]]
# An attempt's deadlines: its channel's, unless the executor was given another rule (image
# requests wait longer, ``engine.media.deadlines``).
Deadlines = Callable[[CompiledPolicy, Attempt], Timeouts]


def channel_deadlines(policy: CompiledPolicy, attempt: Attempt) -> Timeouts:
    return policy.channels[attempt.target.channel].timeout


class Executor:
    def __init__(
        self,
        transports: Transports,
        health: Health,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        events: RoutingEvents = NO_EVENTS,
        deadlines: Deadlines = channel_deadlines,
    ) -> None:
        self.transports = transports
        self.deadlines = deadlines
        self.health = health
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.events = events  # retries, fallbacks, hedges and resumes, as they happen

    async def run(
        self,
        plan: Plan,
        policy: CompiledPolicy,
        make: ExchangeFactory,
        stream: bool,
        records: list[AttemptRecord] | None = None,
        *,
        resume: ResumeFactory | None = None,
    ) -> Completed | Streaming:
        """Attempts are appended to ``records`` (the caller's list) as they end."""
        run = _Run(self, plan, policy, make, stream, [] if records is None else records, resume)
        return await run.execute()


@dataclass(slots=True)
class _Run:
    """One request's way through its candidates (the executor's per-request state)."""

    ex: Executor
    plan: Plan
    policy: CompiledPolicy
    make: ExchangeFactory
    stream: bool
    records: list[AttemptRecord]
    resume: ResumeFactory | None
    started: int = 0  # tries started, for numbering
    position: int = 0  # the next plan candidate to take
    context_floor: int | None = None  # after a context-length error: need a larger window
    context_error: UpstreamError | None = None
    unsupported: UnsupportedFeature | None = None
    used_for_resume: tuple[int, ...] = ()  # plan positions a resume already tried
    decided: bool = False  # a racer won: the others are cancelled as hedge losers
    skipped_probe: bool = False  # a candidate was half-open with its one probe already out
    taken: int = 0  # candidates taken so far (a later one is a fallback or a hedge)

    # ---- before the commit ----------------------------------------------------------

    async def execute(self) -> Completed | Streaming:
        while True:
            won = await (self._in_turn() if self.plan.hedge_after is None else self._race())
            if isinstance(won, Completed):
                return won
            seconds = won.t.attempt.buffer
            if seconds > 0 and not won.ended:
                try:
                    await hold(won, seconds)
                except UpstreamError as err:  # inside the window: restart invisibly elsewhere
                    self._ended(won.t, err, ended=f"{err.ended} (buffered)")
                    await won.close()
                    continue
            return self._streaming(won)

    def _take(self, hedge: bool = False) -> tuple[Attempt, Exchange] | None:
        """The next candidate this request can use, with its exchange (``hedge``: to race
        the one in flight; otherwise any candidate after the first is a fallback)."""
        attempts = self.plan.attempts
        while self.position < len(attempts):
            attempt = attempts[self.position]
            self.position += 1
            if self.context_floor is not None and (attempt.context_window or 0) <= self.context_floor:
                continue
            if self.ex.health.probe_out(attempt.target.channel, attempt.target.model):
                self.skipped_probe = True  # planned before another request's probe went out
                continue
            try:
                exchange = self.make(attempt)
            except UnsupportedFeature as exc:
                self.unsupported = self.unsupported or exc
                continue
            if hedge:
                self.ex.events.hedged(self.plan, attempt)
            elif self.taken:
                self.ex.events.fell_back(self.plan, attempt)
            self.taken += 1
            return attempt, exchange
        return None

    async def _in_turn(self) -> Completed | Live:
        """Candidates one after the other, in this task (no hedge: nothing runs in parallel)."""
        while True:
            taken = self._take()
            if taken is None:
                raise self._nothing_left()
            try:
                return await self._candidate(*taken)
            except UpstreamError as err:
                self._moved_on(err)

    def _moved_on(self, err: UpstreamError) -> None:
        """A candidate's last failure: a terminal one is the answer (raised); after a
        context-length error only a larger window may follow."""
        if err.failure in TERMINAL:
            raise err
        if err.failure == "context_length":
            self.context_floor = max(self.context_floor or 0, self._window_of())
            self.context_error = err

    async def _race(self) -> Completed | Live:
        """Candidates in order, two at once after the hedge delay, until one has its first token."""
        active: dict[asyncio.Task[Completed | Live], float] = {}  # task -> when it started
        hedged: set[asyncio.Task[Completed | Live]] = set()
        try:
            while True:
                if not active:
                    taken = self._take()
                    if taken is None:
                        raise self._nothing_left()
                    active[asyncio.create_task(self._candidate(*taken))] = time.perf_counter()
                wait = self._hedge_wait(active, hedged)
                done, _ = await asyncio.wait(active, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                if not done:  # the hedge fires: the next candidate races the silent one
                    hedged.update(active)
                    taken = self._take(hedge=True)
                    if taken is not None:
                        active[asyncio.create_task(self._candidate(*taken))] = time.perf_counter()
                    continue
                won: Completed | Live | None = None
                failure: UpstreamError | None = None
                for task in done:
                    del active[task]
                    try:
                        result = task.result()
                    except UpstreamError as err:
                        if err.failure in TERMINAL:
                            failure = failure or err
                        else:
                            self._moved_on(err)
                        continue
                    if won is None:
                        won = result
                    else:  # two tokens in the same instant: the later one lost the race
                        await self._lost(result)
                if won is not None:
                    self.decided = True
                    return won
                if failure is not None:
                    raise failure
        finally:
            for task in active:
                task.cancel()
            for outcome in await asyncio.gather(*active, return_exceptions=True):
                if isinstance(outcome, Live | Completed):
                    await self._lost(outcome)

    async def _lost(self, result: Completed | Live) -> None:
        """A racer that got its first token after the winner: closed, logged, not charged."""
        if isinstance(result, Live):
            self._record(result.t, None, ended="hedge_lost")
            target = result.t.attempt.target
            self.ex.health.end(target.channel, target.model)
            await result.close()
            return
        for record in self.records:
            if record.number == result.outcome.attempts_made:
                record.delivered, record.ended = False, "hedge_lost"

    def _hedge_wait(
        self, active: dict[asyncio.Task[Completed | Live], float], hedged: set[asyncio.Task[Completed | Live]]
    ) -> float | None:
        after = self.plan.hedge_after
        if after is None or len(active) != 1 or self.position >= len(self.plan.attempts):
            return None
        task, since = next(iter(active.items()))
        if task in hedged:
            return None
        return max(0.0, after - (time.perf_counter() - since))

    def _window_of(self) -> int:
        for record in reversed(self.records):
            if record.failure == "context_length":
                return record.attempt.context_window or 0
        return 0

    def _nothing_left(self) -> Exception:
        if self.context_error is not None:
            return self.context_error
        if not self.records and self.unsupported is not None:
            return self.unsupported
        if not self.records and self.skipped_probe:
            return NoRoute("every candidate is cooling down; one probe request is testing whether it is back")
        return all_failed(self.records, self.ex.health.cooldown_left)

    async def _candidate(self, attempt: Attempt, exchange: Exchange) -> Completed | Live:
        """One candidate, retried as the policy says; raises its last failure."""
        retry = self.policy.retry
        try_index = 0
        while True:
            try:
                return await self._once(self._try(attempt, exchange), None)
            except UpstreamError as err:
                if err.failure in TERMINAL or err.failure == "context_length":
                    raise
                delay = retry_delay(err, retry, try_index, self.ex.rng)
                if delay is None:
                    raise
                self.ex.events.retried(self.plan, attempt)
            await self.ex.sleep(delay)
            try_index += 1

    def _try(self, attempt: Attempt, exchange: Exchange) -> Try:
        self.started += 1
        timeouts = self.ex.deadlines(self.policy, attempt)
        return Try(attempt, exchange, timeouts, self.started, time.perf_counter())

    async def _once(self, t: Try, relay: Relay | None) -> Completed | Live:
        """One upstream call; ``relay`` continues an earlier stream (a resume)."""
        target = t.attempt.target
        self.ex.health.begin(target.channel, target.model)
        try:
            if not self.stream:
                status, headers, body, headers_after = await self.ex.transports.fetch(t.exchange.request, t.timeouts)
                if status >= 400:
                    raise t.exchange.classify(status, headers, body)
                payload, usage = t.exchange.finish(body)
                t.ttfb_ms = headers_after * 1000
                record = self._record(t, 200, ended="ok")
                record.usage, record.delivered, record.complete = usage, True, True
                self._verdict(t, None)
                return Completed(Outcome(t.attempt, self.records, t.number, usage), payload)
            if relay is None:
                relay = t.exchange.relay(keep_transcript=self._may_resume_after(t.attempt))
            return await open_stream(self.ex.transports, t, relay)
        except UpstreamError as err:
            self._ended(t, err)
            raise
        except asyncio.CancelledError:
            if not t.done:
                self._record(t, None, ended="hedge_lost" if self.decided else "cancelled")
                self.ex.health.end(target.channel, target.model)
            raise

    # ---- records and health ---------------------------------------------------------

    def _record(self, t: Try, status: int | None, *, ended: str) -> AttemptRecord:
        latency = t.elapsed() * 1000
        record = AttemptRecord(t.attempt, t.number, status, None, "", latency, t.ttfb_ms, ended, started=t.started)
        self.records.append(record)
        t.done = True
        return record

    def _verdict(self, t: Try, err: UpstreamError | None) -> None:
        """The breaker's view of one finished call, and the end of its in-flight count."""
        target = t.attempt.target
        if err is None:
            self.ex.health.success(target.channel, target.model, t.elapsed() * 1000)
        elif err.failure in BREAKER_COUNTS:
            self.ex.health.failure(target.channel, target.model, self.policy.breaker)
        self.ex.health.end(target.channel, target.model)

    def _ended(self, t: Try, err: UpstreamError, *, ended: str | None = None) -> AttemptRecord:
        record = self._record(t, err.upstream_status, ended=ended or err.ended)
        record.failure, record.message, record.retry_after = err.failure, err.message, err.retry_after
        self._verdict(t, err)
        return record

    # ---- after the commit -----------------------------------------------------------

    def _streaming(self, live: Live) -> Streaming:
        # committed: the request is never sent again (a resume builds its own), so its body
        # need not live as long as the stream (orjson's buffers are 4 KB even for small ones)
        exchange = live.t.exchange
        exchange.request = exchange.request._replace(body=b"")
        outcome = Outcome(live.t.attempt, self.records, live.t.number, live.relay.usage)
        result = Streaming(outcome, live.take_held(), _empty())
        result.rest = self._rest(result, live)
        return result

    async def _rest(self, result: Streaming, live: Live) -> AsyncGenerator[bytes, None]:
        outcome = result.outcome
        try:
            while True:
                err: UpstreamError | None = None
                out, err = feed_frames(live.relay, live.pending)
                live.pending = b""
                if out:
                    yield out
                if err is None and not live.ended:
                    try:
                        async for chunk in live.chunks:
                            out, err = feed_frames(live.relay, chunk)
                            if out:
                                yield out
                            if err is not None:
                                break
                        else:
                            out = live.relay.close()
                            if out:
                                yield out
                    except UpstreamError as failure:
                        err = failure
                        if failure.failure == "stream_cut":  # a reset after the finish is still a finish
                            try:
                                out = live.relay.close()
                            except UpstreamError:
                                pass
                            else:
                                err = None
                                if out:
                                    yield out
                self._delivered(live, err)
                if err is None:
                    return
                await live.close()
                nxt = await self._continue(live, err)
                if nxt is None:
                    outcome.error = err
                    yield live.relay.error(err)
                    return
                live = nxt
                outcome.attempt, outcome.attempts_made = live.t.attempt, live.t.number
                if live.held:
                    yield live.take_held()
        finally:
            if not live.t.done:  # the client went away (or the generator was closed)
                record = self._record(live.t, 200, ended="client_gone")
                record.usage, record.output_chars, record.delivered = live.relay.usage, live.relay.output_chars, True
                target = live.t.attempt.target
                self.ex.health.end(target.channel, target.model)
            await live.close()
            outcome.usage = live.relay.usage
            result.finished = True

    def _delivered(self, live: Live, err: UpstreamError | None) -> None:
        """The record of an attempt whose output the client got."""
        relay = live.relay
        if err is None:
            record = self._record(live.t, 200, ended="ok")
            record.complete = True
            self._verdict(live.t, None)
        else:
            record = self._ended(live.t, err)
        record.usage, record.output_chars, record.delivered = relay.usage, relay.output_chars, True
        if relay.malformed_events:
            target = live.t.attempt.target
            log.warning(
                "skipped %d malformed SSE event(s) from %s/%s", relay.malformed_events, target.channel, target.model
            )

    def _may_resume_after(self, attempt: Attempt) -> bool:
        """A later candidate could continue this attempt's stream (so keep its transcript)."""
        if self.resume is None:
            return False
        attempts = self.plan.attempts
        index = attempts.index(attempt) if attempt in attempts else len(attempts)
        return any(a.prefill for a in attempts[index + 1 :])

    async def _continue(self, live: Live, err: UpstreamError) -> Live | None:
        """The stream continued on the next candidate with ``prefill``, or None."""
        if self.resume is None or err.failure not in RESUMABLE:
            return None
        transcript = live.relay.transcript
        reason = why_not_resumable(transcript)
        if transcript is None or reason is not None:
            log.info("stream of %s not resumed: %s", live.t.attempt.target.model, reason)
            return None
        attempts = self.plan.attempts
        start = attempts.index(live.t.attempt) + 1 if live.t.attempt in attempts else 0
        delivered = [r for r in self.records if r.delivered]
        for index in range(start, len(attempts)):
            attempt = attempts[index]
            if not attempt.prefill or index in self.used_for_resume:
                continue
            self.used_for_resume += (index,)
            try:
                exchange, continuation = self.resume(attempt, transcript, delivered)
            except UnsupportedFeature:
                continue
            t = self._try(attempt, exchange)
            try:
                opened = await self._once(t, exchange.continue_relay(live.relay, continuation))
            except UpstreamError:
                continue
            assert isinstance(opened, Live)
            self.ex.events.resumed(self.plan, attempt)
            return opened
        return None


async def _empty() -> AsyncGenerator[bytes, None]:
    return
    yield b""
