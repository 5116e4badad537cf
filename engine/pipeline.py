"""One client request, end to end: decode -> authorize -> plan -> execute -> meter -> encode.

Every request runs on the policy snapshot it started with. Every error reaches the
client in its own format (the codec renders it); an exception that is not a
``GatewayError`` is logged with the request id and shown only as an internal error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from engine.access import Admission, Gate, Principal, Reservation, UsageRecord
from engine.canonical import ChatRequest, Usage
from engine.errors import BadRequest, GatewayError, PassthroughOnly
from engine.exchange import Exchange, PassthroughExchange, TranslatedExchange
from engine.metering import usage_cost, worst_case_cost
from engine.policy.compiled import CompiledPolicy
from engine.policy.store import PolicyStore
from engine.routing.execute import AttemptRecord, Completed, Executor, Outcome, Streaming
from engine.routing.facts import RequestFacts, request_facts
from engine.routing.health import Health
from engine.routing.plan import Attempt, KeyFacts, Plan, plan
from engine.reply import Reply
from engine.streaming import StreamResponse
from providers.base import ClientCodec, Endpoint
from engine.routing.image_fetch import ImageFetcher, remote_image_urls
from providers.outline import outline_request
from providers.registry import INLINE_IMAGES_ONLY, Registry

log = logging.getLogger("turnout.request")

Answer = Reply | StreamResponse  # both are ASGI callables


class Ingress(NamedTuple):
    """What the route extracted from the HTTP request."""

    fmt: str  # client format
    endpoint: str  # e.g. "/v1/chat/completions"
    body: bytes
    credential: str | None
    client_ip: str
    headers: Mapping[str, str]
    request_id: str
    path_model: str | None = None
    path_stream: bool | None = None


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from None


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
        except BadRequest as refusal:
            # A feature with no canonical form: a same-format upstream can still take the body.
            if refusal.code != "unsupported_feature" or not isinstance(body, dict):
                raise
            if self.registry.passthrough(ingress.fmt) is None:
                raise
            request = outline_request(ingress.fmt, body, ingress.path_model, ingress.path_stream, refusal)
        self.gate.authorize_model(principal, request.model, policy)
        return principal, request, body

    def plan(self, request: ChatRequest, principal: Principal, policy: CompiledPolicy, headers: Mapping[str, str]) -> tuple[RequestFacts, Plan]:
        facts = request_facts(request, headers, policy.request_headers)
        key = KeyFacts(principal.key_name, principal.group, principal.tags)
        return facts, plan(facts, policy, self.health, key, datetime.now(UTC), self._rng)

    async def handle(self, ingress: Ingress) -> Answer:
        policy = self.store.current
        codec = self.registry.codec(ingress.fmt)
        headers = self.base_headers(policy, ingress.request_id)
        started = time.perf_counter()
        try:
            principal, request, body = await self.decode(ingress, policy)
            facts, route = self.plan(request, principal, policy, ingress.headers)
        except GatewayError as err:
            return self.error_response(codec, err, headers)
        return await self._execute(ingress, policy, codec, headers, principal, request, body, facts, route, started)

    async def _execute(
        self,
        ingress: Ingress,
        policy: CompiledPolicy,
        codec: ClientCodec,
        headers: dict[str, str],
        principal: Principal,
        request: ChatRequest,
        body: Any,
        facts: RequestFacts,
        route: Plan,
        started: float,
    ) -> Answer:
        group = policy.groups.get(principal.group)
        multiplier = group.price_multiplier if group else 1.0
        admission: Admission | None = None
        reservation: Reservation | None = None
        records: list[AttemptRecord] = []
        try:
            if principal.key_id is None:  # operator key or open mode: no limits, no balance
                admission, reservation = Admission(), Reservation(None, None, 0.0)
            else:  # independent checks, each a round trip on shared state: run them together
                worst = max(
                    worst_case_cost(
                        facts.estimated_tokens,
                        facts.max_tokens or policy.default_max_tokens,
                        policy.models[a.target.model].price,
                        multiplier,
                    )
                    for a in route.attempts
                )
                admitted, reserved = await asyncio.gather(
                    self.gate.admit(principal, policy, facts.estimated_tokens),
                    self.gate.reserve(principal, worst),
                    return_exceptions=True,
                )
                if isinstance(admitted, Admission):
                    admission = admitted
                if isinstance(reserved, Reservation):
                    reservation = reserved
                for checked in (admitted, reserved):
                    if isinstance(checked, BaseException):
                        raise checked
            assert admission is not None and reservation is not None
            headers.update(admission.headers)
            inlined = request
            if (
                facts.has_images
                and any(policy.channels[a.target.channel].format in INLINE_IMAGES_ONLY for a in route.attempts)
                and remote_image_urls(request)
            ):
                inlined = await self.images.inline(request)

            def make(attempt: Attempt) -> Exchange:
                inline = policy.channels[attempt.target.channel].format in INLINE_IMAGES_ONLY
                return self._exchange(attempt, policy, codec, inlined if inline else request, body, ingress.headers)

            result = await self.executor.run(route, policy, make, request.stream, records)
        except GatewayError as err:
            if reservation is not None:
                await self.gate.settle(reservation, 0.0)
            if admission is not None:
                await self.gate.release(principal, admission, 0)
            headers["x-turnout-route"] = route.route_header(None, len(records))
            self._record(ingress, policy, principal, route, None, records, err.status, err.kind, started, None, multiplier)
            return self.error_response(codec, err, headers)
        except BaseException:
            if reservation is not None:
                await self.gate.settle(reservation, 0.0)
            if admission is not None:
                await self.gate.release(principal, admission, 0)
            raise

        assert admission is not None and reservation is not None
        outcome = result.outcome
        headers["x-turnout-route"] = route.route_header(outcome.attempt, outcome.attempts_made)
        if isinstance(result, Completed):
            await self._settle(ingress, policy, principal, route, outcome, admission, reservation, started, multiplier)
            return Reply(result.body, 200, headers)
        return self._stream(
            ingress, policy, principal, route, result, admission, reservation, started, multiplier, headers
        )

    def _stream(
        self,
        ingress: Ingress,
        policy: CompiledPolicy,
        principal: Principal,
        route: Plan,
        result: Streaming,
        admission: Admission,
        reservation: Reservation,
        started: float,
        multiplier: float,
        headers: dict[str, str],
    ) -> StreamResponse:
        async def on_close(disconnected: bool) -> None:
            await self._settle(
                ingress, policy, principal, route, result.outcome, admission, reservation, started, multiplier,
                disconnected=disconnected,
            )

        headers["cache-control"] = "no-cache"
        headers["x-accel-buffering"] = "no"
        return StreamResponse(result.first, result.rest, headers, on_close)

    def _exchange(
        self,
        attempt: Attempt,
        policy: CompiledPolicy,
        codec: ClientCodec,
        request: ChatRequest,
        body: Any,
        client_headers: Mapping[str, str],
    ) -> Exchange:
        channel = policy.channels[attempt.target.channel]
        endpoint = Endpoint(
            channel=channel.name,
            format=channel.format,
            base_url=channel.base_url,
            api_key=channel.api_key,
            upstream_model=attempt.target.upstream_model,
            headers=channel.headers,
            params=channel.params,
            max_tokens_field=channel.max_tokens_field,
        )
        adapter = self.registry.adapter(channel.format)
        passthrough = self.registry.passthrough(codec.format) if codec.format == channel.format else None
        if passthrough is not None and isinstance(body, dict):
            return PassthroughExchange(
                passthrough, body, endpoint, attempt.target.model, request, client_headers, codec, adapter
            )
        if request.opaque is not None:  # only its own format can carry it: skip this attempt
            raise PassthroughOnly(request.opaque, codec.format, channel.format)
        return TranslatedExchange(request, endpoint, attempt.target.model, codec, adapter)

    async def _settle(
        self,
        ingress: Ingress,
        policy: CompiledPolicy,
        principal: Principal,
        route: Plan,
        outcome: Outcome,
        admission: Admission,
        reservation: Reservation,
        started: float,
        multiplier: float,
        *,
        disconnected: bool = False,
    ) -> None:
        usage = outcome.usage or Usage()
        if principal.key_id is not None:  # operator keys hold no reservation and no slot
            price = policy.models[outcome.attempt.target.model].price
            await self.gate.settle(reservation, usage_cost(usage, price, multiplier))
            await self.gate.release(principal, admission, usage.total_tokens)
        error_type: str | None
        if outcome.error is not None:
            status, error_type = outcome.error.status, outcome.error.kind
        elif disconnected:
            status, error_type = 499, "client_disconnected"
        else:
            status, error_type = 200, None
        self._record(
            ingress, policy, principal, route, outcome, outcome.records, status, error_type, started, usage, multiplier
        )

    def _record(
        self,
        ingress: Ingress,
        policy: CompiledPolicy,
        principal: Principal,
        route: Plan,
        outcome: Outcome | None,
        records: list[AttemptRecord],
        status: int,
        error_type: str | None,
        started: float,
        usage: Usage | None,
        multiplier: float,
    ) -> None:
        now = datetime.now(UTC)
        usage = usage or Usage()
        served = outcome.attempt if outcome else None
        price = policy.models[served.target.model].price if served else None
        rows = [
            UsageRecord(
                request_id=ingress.request_id,
                attempt=None,
                at=now,
                account_id=principal.account_id,
                key_id=principal.key_id,
                endpoint=ingress.endpoint,
                model_requested=route.requested,
                alias_rule=f"{route.alias}#{route.rule}" if route.alias and route.rule else route.alias,
                model_served=served.target.model if served else None,
                channel=served.target.channel if served else None,
                status=status,
                error_type=error_type,
                latency_ms=(time.perf_counter() - started) * 1000,
                ttfb_ms=records[-1].ttfb_ms if records else None,
                prompt_tokens=usage.input_tokens,
                completion_tokens=usage.output_tokens,
                cached_tokens=usage.cached_input_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                cost_usd=usage_cost(usage, price, multiplier),
                policy_version=policy.version,
            )
        ]
        rows.extend(_attempt_row(ingress, policy, principal, route, r, now) for r in records)
        self.gate.record(rows)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("request %s %s -> %s status=%s", ingress.request_id, route.requested, rows[0].channel, status)


def _attempt_row(
    ingress: Ingress, policy: CompiledPolicy, principal: Principal, route: Plan, record: AttemptRecord, now: datetime
) -> UsageRecord:
    return UsageRecord(
        request_id=ingress.request_id,
        attempt=record.number,
        at=now,
        account_id=principal.account_id,
        key_id=principal.key_id,
        endpoint=ingress.endpoint,
        model_requested=route.requested,
        alias_rule=f"{route.alias}#{route.rule}" if route.alias and route.rule else route.alias,
        model_served=record.attempt.target.model,
        channel=record.attempt.target.channel,
        status=record.status or 0,
        error_type=record.failure,
        latency_ms=record.latency_ms,
        ttfb_ms=record.ttfb_ms,
        prompt_tokens=0,
        completion_tokens=0,
        cached_tokens=0,
        reasoning_tokens=0,
        cost_usd=0.0,
        policy_version=policy.version,
    )
