"""One client request, end to end: decode -> authorize -> plan -> execute -> meter -> encode.

Every request runs on the policy snapshot it started with. Every error reaches the
client in its own format (the codec renders it); an exception that is not a
``GatewayError`` is logged with the request id and shown only as an internal error.
Once decoded and planned, a request travels as one ``Call`` (``engine.call``). When the
policy has a canary, the request's side is chosen after it is authorized (``engine.canary``);
what the canary fails before the first byte is planned again on the stable snapshot.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, NamedTuple

from engine.access import Admission, Gate, Principal, Reservation
from engine.billing import NOTHING, Charge, batch_multiplier, byok_for, charges, request_charge
from engine.call import Call, Ingress
from engine.canary.monitor import CanaryMonitor
from engine.canary.split import on_canary, rescues
from engine.canonical import ChatRequest, Usage
from engine.endpoints import endpoint_for, own_key, own_keys
from engine.errors import BadRequest, GatewayError, NoCanonicalForm, PassthroughOnly
from engine.exchange import Exchange, Leg, PassthroughExchange, TranslatedExchange
from engine.http.json_body import parse_json
from engine.http.reframed import reframed
from engine.http.reply import Reply
from engine.http.streaming import StreamResponse
from engine.metering import worst_case_of
from engine.observability.access_log import format_cost
from engine.observability.recorder import Recorder
from engine.policy.compiled import CanarySpec, CompiledPolicy, Price
from engine.policy.store import PolicyStore
from engine.resume import Continuation, Transcript, add_usage, continuation_request, estimated_usage
from engine.routing.execute import (
    AttemptRecord,
    Completed,
    ExchangeFactory,
    Executor,
    Outcome,
    ResumeFactory,
    Streaming,
)
from engine.routing.facts import RequestFacts, request_facts
from engine.routing.health import Health
from engine.routing.image_fetch import ImageFetcher, remote_image_urls
from engine.routing.plan import Attempt, KeyFacts, Plan, plan
from engine.usage_rows import Ending, usage_rows
from providers.base import ClientCodec
from providers.outline import outline_request
from providers.registry import Registry


def dropped_tools(request: ChatRequest, upstream_format: str) -> list[str]:
    """The hosted tools (web search) an attempt on ``upstream_format`` went without: only
    their own format's upstream runs them (``x-turnout-dropped-tools``)."""
    return list(dict.fromkeys(h.kind for h in request.hosted_tools if h.format != upstream_format))


def _tried(records: list[AttemptRecord]) -> list[str]:
    """``model@channel:why`` for every attempt that ended so far, in start order."""
    ordered = sorted(records, key=lambda r: r.number) if len(records) > 1 else records
    return [f"{r.attempt.target.model}@{r.attempt.target.channel}:{r.ended}" for r in ordered]


Answer = Reply | StreamResponse  # both are ASGI callables
Around = Callable[[Plan], AbstractAsyncContextManager[None]]


class BatchItem(NamedTuple):
    """One request of a batch job as the batch runner hands it over."""

    ingress: Ingress  # the format, endpoint and request id (no credential: ``principal`` is known)
    principal: Principal
    body: dict[str, Any]


__all__ = ["Answer", "Around", "BatchItem", "Ingress", "Pipeline"]


class Pipeline:
    def __init__(
        self,
        store: PolicyStore,
        registry: Registry,
        executor: Executor,
        health: Health,
        gate: Gate,
        images: ImageFetcher,
    ) -> None:
        self.store = store
        self.images = images
        self.registry = registry
        self.executor = executor
        self.health = health
        self.gate = gate
        self._rng = random.Random()
        # client requests being handled now (until their answer starts), and when the last one
        # ended (monotonic): batch work yields to them (``engine.batch.runner``)
        self.interactive = 0
        self.interactive_at = 0.0
        self.recorder = Recorder()  # metrics, access log, traces: the app sets the worker's
        self.canaries: CanaryMonitor | None = None  # the worker's canary monitor, once started

    def base_headers(self, policy: CompiledPolicy, request_id: str) -> dict[str, str]:
        return {"x-request-id": request_id, "x-turnout-policy": policy.version}

    def error_response(self, codec: ClientCodec, err: GatewayError, headers: dict[str, str]) -> Reply:
        return Reply(codec.encode_error(err), err.status, {**headers, **err.headers})

    async def decode(self, ingress: Ingress, policy: CompiledPolicy) -> tuple[Principal, ChatRequest, Any]:
        codec = self.registry.codec(ingress.fmt)
        principal = await self.gate.authenticate(ingress.credential, ingress.client_ip, policy)
        body = parse_json(ingress.body)
        try:
            request = codec.decode_request(body, model=ingress.path_model, stream=ingress.path_stream)
        except NoCanonicalForm as refusal:
            # A feature with no canonical form: a same-format upstream can still take the body.
            if not isinstance(body, dict) or self.registry.passthrough(ingress.fmt) is None:
                raise
            request = outline_request(ingress.fmt, body, ingress.path_model, ingress.path_stream, refusal)
        return principal, request, body

    def plan(
        self,
        request: ChatRequest,
        principal: Principal,
        policy: CompiledPolicy,
        headers: Mapping[str, str],
        now: datetime | None = None,
    ) -> tuple[RequestFacts, Plan]:
        facts = request_facts(request, headers, policy.request_headers)
        key = KeyFacts(principal.key_name, principal.group, principal.tags)
        return facts, plan(facts, policy, self.health, key, now or datetime.now(UTC), self._rng)

    async def handle(self, ingress: Ingress) -> Answer:
        return await self.observed(ingress, lambda started: self._handle(ingress, started))

    async def observed(self, ingress: Ingress, run: Callable[[float], Awaitable[Answer]]) -> Answer:
        """``run(started)`` with the recorder told that a request arrived and, when it raised,
        how it ended (every other ending is recorded where it happens)."""
        started = time.perf_counter()
        self.recorder.arrived(ingress.fmt)
        self.interactive += 1
        try:
            return await run(started)
        except asyncio.CancelledError:
            self.recorder.aborted(ingress, started, 499, "client_disconnected")
            raise
        except BaseException:
            self.recorder.aborted(ingress, started, 500, "internal")
            raise
        finally:
            self.interactive -= 1
            self.interactive_at = time.monotonic()

    async def _handle(self, ingress: Ingress, started: float) -> Answer:
        stable = self.store.current
        codec = self.registry.codec(ingress.fmt)
        try:
            decoded = await self.decode(ingress, stable)
        except GatewayError as err:
            return self._refused(ingress, codec, err, self.base_headers(stable, ingress.request_id), started)
        principal, request, _ = decoded
        canary = self._canary_for(stable, principal, request, ingress.headers)
        rescued_from: str | None = None
        if canary is not None:
            try:
                call = self._call(ingress, canary.policy, codec, started, decoded)
            except GatewayError as err:
                if not (canary.rescue and rescues(err)):
                    return self._refused(
                        ingress, codec, err, self.base_headers(canary.policy, ingress.request_id), started
                    )
                rescued_from = canary.version  # the canary cannot route it: the stable policy answers
            else:
                call.canary_version = canary.version
                call.rescuer = stable if canary.rescue else None
                call.headers["x-turnout-canary"] = canary.version
                return await self._execute(call)
        try:
            call = self._call(ingress, stable, codec, started, decoded)
        except GatewayError as err:
            return self._refused(ingress, codec, err, self.base_headers(stable, ingress.request_id), started)
        if rescued_from is not None:
            call.canary_version = rescued_from
            call.headers["x-turnout-canary"] = f"{rescued_from} rescued"
        return await self._execute(call)

    def _canary_for(
        self, stable: CompiledPolicy, principal: Principal, request: ChatRequest, headers: Mapping[str, str]
    ) -> CanarySpec | None:
        """The canary this request goes to, if any (``engine.canary.split``)."""
        canary = self.canaries.serving(stable) if self.canaries is not None else None
        if canary is None:
            return None
        key = KeyFacts(principal.key_name, principal.group, principal.tags)
        return canary if on_canary(canary, key, request, headers) else None

    def _call(
        self,
        ingress: Ingress,
        policy: CompiledPolicy,
        codec: ClientCodec,
        started: float,
        decoded: tuple[Principal, ChatRequest, Any],
    ) -> Call:
        """The request authorized and planned on ``policy``; raises the ``GatewayError`` that
        refuses it (403 for a model the key's group may not call there, 404, no route...)."""
        principal, request, body = decoded
        self.gate.authorize_model(principal, request.model, policy)
        planned_at = datetime.now(UTC)
        facts, route = self.plan(request, principal, policy, ingress.headers, planned_at)
        group = policy.groups.get(principal.group)
        multiplier = group.price_multiplier if group else 1.0
        headers = self.base_headers(policy, ingress.request_id)
        call = Call(ingress, policy, codec, headers, started, principal, request, body, facts, route, multiplier)
        call.byok = byok_for(principal.byok_keys, group, policy)
        call.planned_at = planned_at
        return call

    def _refused(
        self, ingress: Ingress, codec: ClientCodec, err: GatewayError, headers: dict[str, str], started: float
    ) -> Reply:
        if err.code == "max_tokens_too_large":  # the planner names the output cap max_tokens: say the client's
            err.param = codec.output_cap_field
            err.message = err.message.replace("max_tokens", codec.output_cap_field, 1)
        self.recorder.rejected(ingress, err, started)
        return self.error_response(codec, err, headers)

    async def serve_batched(self, item: BatchItem, around: Around) -> Reply:
        """One request of a batch job, for ``item.principal`` (authenticated when the job was
        submitted): authorized, planned, executed and metered like an interactive request,
        never streamed, priced at each model's ``batch_discount``. ``around(plan)`` holds
        while the request runs (the batch runner's per-channel slot)."""
        policy = self.store.current
        codec = self.registry.codec(item.ingress.fmt)
        headers = self.base_headers(policy, item.ingress.request_id)
        started = time.perf_counter()
        try:
            request = codec.decode_request(item.body)
            if request.stream:
                raise BadRequest("a batch request cannot stream: leave out stream", param="stream")
            self.gate.authorize_model(item.principal, request.model, policy)
            facts, route = self.plan(request, item.principal, policy, {})
        except GatewayError as err:
            return self.error_response(codec, err, headers)
        group = policy.groups.get(item.principal.group)
        multiplier = group.price_multiplier if group else 1.0
        call = Call(item.ingress, policy, codec, headers, started, item.principal, request, item.body, facts, route)
        call.multiplier, call.batch = multiplier, True
        async with around(route):
            answer = await self._execute(call)
        assert isinstance(answer, Reply)  # not streamed
        return answer

    @staticmethod
    def _multiplier(call: Call, price: Price | None) -> float:
        return batch_multiplier(price, call.multiplier) if call.batch else call.multiplier

    async def _admit(self, call: Call) -> None:
        """Rate limits and the worst-case reservation, set on ``call`` as they succeed."""
        principal = call.principal
        if principal.key_id is None:  # operator key or open mode: no limits, no balance
            call.admission, call.reservation = Admission(), Reservation(None, None, 0.0)
            return
        policy, facts = call.policy, call.facts
        worst = self._worst_case(call)
        # independent checks, each a round trip on shared state: run them together
        admitted, reserved = await asyncio.gather(
            self.gate.admit(principal, policy, facts.estimated_tokens),
            self.gate.reserve(principal, worst),
            return_exceptions=True,
        )
        if isinstance(admitted, Admission):
            call.admission = admitted
        if isinstance(reserved, Reservation):
            call.reservation = reserved
        for checked in (admitted, reserved):
            if isinstance(checked, BaseException):
                raise checked

    def _worst_case(self, call: Call) -> float:
        """The most the request can cost the key (what is reserved before it is sent)."""
        policy, facts = call.policy, call.facts
        cap = facts.max_tokens or policy.default_max_tokens
        byok = call.byok
        own = [a for a in call.route.attempts if byok is not None and a.target.channel in byok.channels]
        listed = [a for a in call.route.attempts if a not in own]
        return max(
            max(  # at list price times the group's multiplier (a batch job's: less its batch_discount)
                (
                    worst_case_of(facts.estimated_tokens, cap, [price], self._multiplier(call, price))
                    for price in (policy.models[a.target.model].price for a in listed)
                ),
                default=0.0,
            ),
            # with the caller's own key: the group's fee, as charged
            worst_case_of(facts.estimated_tokens, cap, [byok.fee] if byok is not None and own else [], 1.0),
        )

    def _charges(self, call: Call, outcome: Outcome) -> list[Charge]:
        """Each attempt's charge, in ``outcome.records`` order."""
        return charges(
            outcome.records, call.policy, call.facts.estimated_tokens, call.multiplier, call.byok, call.batch
        )

    async def _release(self, call: Call) -> None:
        """Give back what the gate granted to a request that was not served."""
        if call.reservation is not None:
            await self.gate.settle(call.reservation, 0.0)
        if call.admission is not None:
            await self.gate.release(call.principal, call.admission, 0)

    async def _execute(self, call: Call) -> Answer:
        records: list[AttemptRecord] = []
        try:
            await self._admit(call)
            assert call.admission is not None
            call.headers.update(call.admission.headers)
            make, resume = await self._exchanges(call)
            result = await self.executor.run(call.route, call.policy, make, call.request.stream, records, resume=resume)
        except GatewayError as err:
            await self._release(call)
            rescue = self._rescue(call, records, err)
            if rescue is not None:
                ending = Ending(err.status, err.kind, NOTHING)
                self.gate.record(usage_rows(call, None, records, ending)[1:])
                self.recorder.canary_failed(call, records, ending)
                return await self._execute(rescue)
            call.headers["x-turnout-route"] = call.route.route_header(None, len(records), _tried(records))
            ending = Ending(err.status, err.kind, NOTHING)
            self.gate.record(usage_rows(call, None, records, ending))
            self.recorder.finished(call, None, records, ending)
            call.headers["x-turnout-cost"] = format_cost(0.0)
            return self.error_response(call.codec, err, call.headers)
        except BaseException:
            await self._release(call)
            raise

        outcome = result.outcome
        call.headers["x-turnout-route"] = call.route.route_header(
            outcome.attempt, outcome.attempts_made, _tried(records)
        )
        dropped = dropped_tools(call.request, call.policy.channels[outcome.attempt.target.channel].format)
        if dropped:
            call.headers["x-turnout-dropped-tools"] = ", ".join(dropped)
        if isinstance(result, Completed):
            charge = await self._settle(call, outcome)
            call.headers["x-turnout-cost"] = format_cost(charge.cost_usd)
            return Reply(result.body, 200, call.headers)
        return self._stream(call, result)

    def _rescue(self, call: Call, records: list[AttemptRecord], err: GatewayError) -> Call | None:
        """The stable policy's call for a request the canary failed before its first byte,
        its attempts numbered after the canary's (whose rows are then recorded without a
        request row: the request is not over); None when there is no rescue (rescue off,
        the client's own mistake, or the stable policy refuses the request too)."""
        if call.rescuer is None or not rescues(err):
            return None
        try:
            rescue = self._call(
                call.ingress, call.rescuer, call.codec, call.started, (call.principal, call.request, call.body)
            )
        except GatewayError:
            return None  # e.g. a model only the candidate has: the canary's own failure is the answer
        rescue.canary_version = call.canary_version
        rescue.attempt_offset = call.attempt_offset + len(records)
        rescue.headers["x-turnout-canary"] = f"{call.canary_version} rescued"
        return rescue

    async def _exchanges(self, call: Call) -> tuple[ExchangeFactory, ResumeFactory | None]:
        """The exchange factories the executor calls per attempt and per resume (images
        inlined first when an attempt's upstream cannot fetch them itself)."""
        policy, request = call.policy, call.request
        inlined = request
        if (
            call.facts.has_images
            and any(self._inlines(policy, a) for a in call.route.attempts)
            and remote_image_urls(request)
        ):
            inlined = await self.images.inline(request)

        def make(attempt: Attempt) -> Exchange:
            return self._exchange(call, attempt, inlined if self._inlines(policy, attempt) else request)

        def resume(
            attempt: Attempt, transcript: Transcript, delivered: list[AttemptRecord]
        ) -> tuple[Exchange, Continuation]:
            base = inlined if self._inlines(policy, attempt) else request
            return self._continuation(call, base, attempt, transcript, delivered)

        resumable = request.stream and request.opaque is None and any(a.prefill for a in call.route.attempts)
        return make, (resume if resumable else None)

    def _continuation(
        self, call: Call, request: ChatRequest, attempt: Attempt, transcript: Transcript, delivered: list[AttemptRecord]
    ) -> tuple[Exchange, Continuation]:
        """A cut stream continued on ``attempt``: the conversation re-sent with the partial
        answer as a prefill, and how its stream maps onto the client's (the usage so far
        counted from the attempts the client already got output from)."""
        continued, stripped = continuation_request(request, transcript)
        prompt = call.facts.estimated_tokens
        before = Usage()
        for record in delivered:
            before = add_usage(before, estimated_usage(record.usage, prompt, record.output_chars))
        adapter = self.registry.adapter(call.policy.channels[attempt.target.channel].format)
        endpoint = endpoint_for(call.policy, attempt, own_keys(call))
        leg = Leg(endpoint, adapter, call.codec, attempt.target.model, own_key(call, endpoint))
        return TranslatedExchange(leg, continued), Continuation(transcript, stripped, before)

    def _inlines(self, policy: CompiledPolicy, attempt: Attempt) -> bool:
        return self.registry.adapter(policy.channels[attempt.target.channel].format).inline_images_only

    def _stream(self, call: Call, result: Streaming) -> StreamResponse:
        fmt = call.ingress.fmt
        self.recorder.stream_opened(fmt)

        async def on_close(disconnected: bool) -> None:
            try:
                await self._settle(call, result.outcome, disconnected=disconnected)
            except BaseException:
                self.recorder.aborted(call.ingress, call.started, 500, "internal")
                raise
            finally:
                self.recorder.stream_closed(fmt)

        call.headers["cache-control"] = "no-cache"
        call.headers["x-accel-buffering"] = "no"
        reframing = None if call.ingress.sse else self.registry.stream_reframing(call.codec.format)
        if reframing is not None:  # the client asked for its format's other stream framing
            first, rest = reframed(reframing.stream_reframer(), result.first, result.rest)
            return StreamResponse(first, rest, call.headers, on_close, reframing.stream_media_type)
        return StreamResponse(result.first, result.rest, call.headers, on_close)

    def _exchange(self, call: Call, attempt: Attempt, request: ChatRequest) -> Exchange:
        channel = call.policy.channels[attempt.target.channel]
        codec = call.codec
        endpoint = endpoint_for(call.policy, attempt, own_keys(call))
        leg = Leg(endpoint, self.registry.adapter(channel.format), codec, attempt.target.model, own_key(call, endpoint))
        passthrough = self.registry.passthrough(codec.format) if codec.format == channel.format else None
        if passthrough is not None and isinstance(call.body, dict):
            return PassthroughExchange(passthrough, leg, call.body, request, call.ingress.headers)
        if request.opaque is not None:  # only its own format can carry it: skip this attempt
            raise PassthroughOnly(request.opaque, codec.format, channel.format)
        return TranslatedExchange(leg, request)

    async def _settle(self, call: Call, outcome: Outcome, *, disconnected: bool = False) -> Charge:
        per_attempt = self._charges(call, outcome)
        charge = request_charge(outcome.records, per_attempt)
        principal = call.principal
        overrun = 0.0
        if principal.key_id is not None:  # operator keys hold no reservation and no slot
            assert call.reservation is not None and call.admission is not None
            overrun = await self.gate.settle(call.reservation, charge.cost_usd)
            await self.gate.release(principal, call.admission, charge.usage.total_tokens)
        error_type: str | None
        if outcome.error is not None:
            status, error_type = outcome.error.status, outcome.error.kind
        elif disconnected:
            status, error_type = 499, "client_disconnected"
        else:
            status, error_type = 200, None
        ending = Ending(status, error_type, charge, per_attempt, overrun)
        self.gate.record(usage_rows(call, outcome, outcome.records, ending))
        self.recorder.finished(call, outcome, outcome.records, ending)
        return charge
