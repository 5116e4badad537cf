"""The batch runner: a background task per worker that sends pending batch requests.

Each request goes through ``Pipeline.serve_batched`` (routing, fallbacks, limits, the
batch price, usage rows) as its job's key. Concurrency is bounded per key
(``TURNOUT_BATCH_PER_KEY``) and per channel (``TURNOUT_BATCH_PER_CHANNEL``, on the plan's
first channel): batch work never takes more than that from a channel, so interactive
traffic, which is not counted, keeps the rest. A request the gate refuses with 429 is
given back and tried again later.

Interactive traffic goes first: a batch request about to be sent waits (up to
``YIELD_MAX``) while client requests are being handled in this worker, or one ended
moments ago; if they still are, batch requests go one at a time.

The job's key is checked again before each request (at most once a second): a key disabled,
expired or deleted since the job was submitted gets its remaining requests answered 401.

Exactly once: a request is claimed (``running``, under a lease this runner renews) before
it is sent and its answer stored after (answers close together share one write); on
shutdown the runner stops claiming, lets
what is in flight finish within the drain time, and gives back what it had claimed but not
sent yet. A request whose runner died mid-flight is answered ``interrupted`` by whichever
runner sees its lease expire (``BatchStore.reap``), never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from engine.batch.callback import CallbackSender, retry_delay
from engine.batch.model import ENDPOINTS
from engine.batch.store import Answered, BatchStore, Claimed
from engine.pipeline import BatchItem, Ingress, Pipeline
from engine.routing.plan import Plan

log = logging.getLogger("turnout.batch")

LEASE = timedelta(seconds=30)
RENEW_EVERY = 10.0
POLL_EVERY = 0.5  # while there is work; woken at once by a submission or an answer in this worker
IDLE_POLL = 2.0  # with nothing to do: work submitted to another replica waits at most this long
GATE_RETRIES = 5  # 429s from the gate (rate limits) before the 429 is the answer
GATE_RETRY_DELAY = 1.0
FLUSH_DELAY = 0.05  # answers arriving this close together are stored in one write
# A batch request about to be sent waits (up to YIELD_MAX) while client requests are being
# handled or one ended within QUIET (a client sending one after another).
YIELD_STEP, YIELD_MAX, QUIET = 0.005, 0.25, 0.02

CallbackBody = Callable[[str], Awaitable[bytes | None]]  # job id -> the callback's body
KeyProblem = Callable[[str], Awaitable[str | None]]  # key id -> why it may not run now (None: it may)
KEY_CHECK_EVERY = 1.0  # seconds a key's check is reused


@dataclass(frozen=True, slots=True)
class Limits:
    per_key: int = 4
    per_channel: int = 4
    callback_backoff: float = 2.0


class BatchRunner:
    def __init__(
        self,
        store: BatchStore,
        pipeline: Pipeline,
        limits: Limits,
        callbacks: CallbackSender,
        callback_body: CallbackBody,
        key_problem: KeyProblem,
    ) -> None:
        self._store = store
        self._pipeline = pipeline
        self._limits = limits
        self._callbacks = callbacks
        self._callback_body = callback_body
        self._key_problem = key_problem
        self._key_checks: dict[str, tuple[float, str | None]] = {}  # key id -> (checked at, problem)
        self.runner_id = f"runner-{secrets.token_hex(8)}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._sent: set[tuple[str, int]] = set()  # in flight and past the point of no return
        self._per_owner: dict[str, int] = {}
        self._channels: dict[str, asyncio.Semaphore] = {}
        self._busy_lane = asyncio.Semaphore(1)  # batch requests sent while interactive traffic never pauses
        self._gate_tries: dict[tuple[str, int], int] = {}
        self._cooldown_until: dict[str, float] = {}  # owner -> monotonic time after a 429
        self._answers: list[Answered] = []  # answered, not stored yet
        self._flusher: asyncio.Task[None] | None = None
        self._delivering: dict[str, asyncio.Task[None]] = {}  # job id -> its callback being sent

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="batch-runner")

    def wake(self) -> None:
        """New work was submitted: look now rather than at the next poll."""
        self._wake.set()

    def begin_drain(self) -> None:
        """Stop claiming new requests (what is in flight carries on)."""
        self._stopping = True
        self._wake.set()

    async def stop(self, drain_seconds: float) -> None:
        """Stop claiming, give in-flight requests ``drain_seconds`` to finish, then cut them."""
        self.begin_drain()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        pending = list(self._inflight.values())
        if pending:
            await asyncio.wait(pending, timeout=drain_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self._flush(0.0)
        delivering = list(self._delivering.values())
        for task in delivering:
            task.cancel()
        await asyncio.gather(*delivering, return_exceptions=True)

    # ---- the loop ---------------------------------------------------------------------

    async def _loop(self) -> None:
        renewed = 0.0
        while not self._stopping:
            try:
                now = time.monotonic()
                if now - renewed >= RENEW_EVERY:
                    await self._store.renew(self.runner_id, LEASE)
                    if await self._store.reap():
                        log.warning("batch requests of a stopped runner were answered 'interrupted'")
                    renewed = now
                seen = await self._dispatch()
                await self._deliver()
            except Exception:  # a database hiccup must not end the runner
                log.exception("batch runner: retrying after an error")
                seen = False
            busy = seen or bool(self._inflight) or bool(self._delivering)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_EVERY if busy else IDLE_POLL):
                    await self._wake.wait()
            self._wake.clear()

    def _room(self, owner: str) -> int:
        if self._cooldown_until.get(owner, 0.0) > time.monotonic():
            return 0
        return self._limits.per_key - self._per_owner.get(owner, 0)

    async def _dispatch(self) -> bool:
        """Claim and start what this worker has room for; whether any request was pending."""
        candidates = await self._store.pending(limit=200)
        picks: list[tuple[str, int]] = []
        wanted: dict[str, int] = {}
        for job_id, idx, owner in candidates:
            if (job_id, idx) in self._inflight:
                continue
            if wanted.get(owner, 0) < self._room(owner):
                wanted[owner] = wanted.get(owner, 0) + 1
                picks.append((job_id, idx))
        if not picks or self._stopping:
            return bool(candidates)
        for claimed in await self._store.claim(self.runner_id, picks, LEASE):
            key = (claimed.job_id, claimed.idx)
            self._per_owner[claimed.owner] = self._per_owner.get(claimed.owner, 0) + 1
            self._inflight[key] = asyncio.create_task(self._run(claimed))
        return True

    async def _run(self, claimed: Claimed) -> None:
        key = (claimed.job_id, claimed.idx)
        request_id = f"{claimed.job_id}-{claimed.idx}"
        ingress = Ingress(ENDPOINTS[claimed.endpoint], claimed.endpoint, b"", None, "batch", {}, request_id)
        try:
            problem = await self._key_check(claimed.principal.key_id)
            if problem is not None:  # disabled, expired or deleted since the job was submitted
                body = {"error": {"message": problem, "type": "authentication_error", "code": "invalid_api_key"}}
                self._answer(Answered(claimed.job_id, claimed.idx, 401, body, request_id))
                return
            reply = await self._pipeline.serve_batched(
                BatchItem(ingress, claimed.principal, claimed.body), self._slot(key)
            )
            status = reply.status_code
            if status == 429 and self._gate_tries.get(key, 0) < GATE_RETRIES and not self._stopping:
                self._gate_tries[key] = self._gate_tries.get(key, 0) + 1
                self._cooldown_until[claimed.owner] = time.monotonic() + GATE_RETRY_DELAY
                await self._store.release(claimed.job_id, claimed.idx)
                return
            self._gate_tries.pop(key, None)
            self._answer(Answered(claimed.job_id, claimed.idx, status, orjson.loads(reply.body), request_id))
        except asyncio.CancelledError:
            if key not in self._sent:  # cut before it went out: it goes out later, once
                await asyncio.shield(self._store.release(claimed.job_id, claimed.idx))
            raise  # sent: left running; its lease runs out and it is answered 'interrupted'
        except Exception:
            log.exception("batch request %s failed inside the gateway", request_id)
            body = {"error": {"message": f"internal error (request id {request_id})", "type": "server_error"}}
            self._answer(Answered(claimed.job_id, claimed.idx, 500, body, request_id))
        finally:
            self._sent.discard(key)
            self._inflight.pop(key, None)
            self._per_owner[claimed.owner] -= 1
            self._wake.set()

    async def _key_check(self, key_id: str | None) -> str | None:
        if key_id is None:  # operator keys and open mode
            return None
        now = time.monotonic()
        checked = self._key_checks.get(key_id)
        if checked is None or now - checked[0] > KEY_CHECK_EVERY:
            checked = self._key_checks[key_id] = (now, await self._key_problem(key_id))
        return checked[1]

    def _interactive_busy(self) -> bool:
        """Client requests are being handled, or one ended within ``QUIET``."""
        pipeline = self._pipeline
        return pipeline.interactive > 0 or time.monotonic() - pipeline.interactive_at < QUIET

    def _slot(self, key: tuple[str, int]) -> Callable[[Plan], contextlib.AbstractAsyncContextManager[None]]:
        @contextlib.asynccontextmanager
        async def around(plan: Plan) -> AsyncIterator[None]:
            channel = plan.attempts[0].target.channel if plan.attempts else ""
            semaphore = self._channels.setdefault(channel, asyncio.Semaphore(self._limits.per_channel))
            waited = 0.0
            while self._interactive_busy() and waited < YIELD_MAX:  # interactive traffic goes first
                await asyncio.sleep(YIELD_STEP)
                waited += YIELD_STEP
            async with contextlib.AsyncExitStack() as held:
                if waited >= YIELD_MAX:  # still busy: batch work goes one request at a time
                    await held.enter_async_context(self._busy_lane)
                await held.enter_async_context(semaphore)
                self._sent.add(key)
                yield

        return around

    # ---- answers ----------------------------------------------------------------------

    def _answer(self, answer: Answered) -> None:
        """Store an answer with the others that arrive within ``FLUSH_DELAY`` (one write)."""
        self._answers.append(answer)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(FLUSH_DELAY))

    async def _flush(self, delay: float) -> None:
        await asyncio.sleep(delay)
        while self._answers:  # answers arriving during a write go in the next one
            answers, self._answers = self._answers, []
            try:
                await self._store.finish_many(answers)
            except Exception:  # left running: answered 'interrupted' when their lease runs out
                log.exception("batch runner: %d answers could not be stored", len(answers))
        self._wake.set()

    # ---- callbacks --------------------------------------------------------------------

    async def _deliver(self) -> None:
        for due in await self._store.callbacks_due():
            if due.job_id in self._delivering:
                continue
            task = asyncio.create_task(self._deliver_one(due.job_id, due.url, due.secret, due.attempts))
            self._delivering[due.job_id] = task

    async def _deliver_one(self, job_id: str, url: str, secret: str, attempts: int) -> None:
        try:
            await self._deliver_once(job_id, url, secret, attempts)
        finally:
            self._delivering.pop(job_id, None)

    async def _deliver_once(self, job_id: str, url: str, secret: str, attempts: int) -> None:
        body = await self._callback_body(job_id)
        if body is None:
            return
        error = await self._callbacks.send(url, secret, body)
        retry_at = None
        if error is not None:
            delay = retry_delay(attempts + 1, self._limits.callback_backoff)
            retry_at = None if delay is None else datetime.now(UTC) + timedelta(seconds=delay)
            log.info("batch %s: callback not delivered (%s); %s", job_id, error, "retrying" if retry_at else "gave up")
        await self._store.callback_tried(job_id, error, retry_at)
