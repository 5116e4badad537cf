"""The calls the request path makes to be seen: one per request at its end, a few counts
as it goes, and the routing events of the executor (``engine.routing.events``).

* ``arrived`` / ``finished`` / ``rejected`` / ``aborted`` - every request reaches exactly
  one of the last three: ``finished`` once it was planned (its usage rows are written at
  the same moment), ``rejected`` when it failed before (authentication, a bad body, an
  unknown model), ``aborted`` on a bug or a cancelled task. Each counts the request, ends its in-flight count,
  writes the access-log line and, with tracing on, its spans.
* ``stream_opened`` / ``stream_closed`` - streams in flight.
* ``retried`` / ``fell_back`` / ``hedged`` / ``resumed`` - the executor's events.
* ``canary_failed`` / ``canary_state`` - a canary's attempts the stable policy took over
  from, and whether a canary version serves or was rolled back (``engine.canary``).
* ``reloaded`` and ``refresh`` (``engine.observability.gauges`` calls it every second and
  before a scrape) - policy reloads, breaker states and the usage-log queue.

``Recorder()`` with nothing configured does nothing (unit tests, tools).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from engine.call import Call, Ingress
from engine.errors import GatewayError
from engine.observability.access_log import AccessEntry, AccessLog
from engine.observability.labels import attempt_outcome, bounded, status_label
from engine.observability.metrics import Metrics
from engine.observability.tracing import Tracing
from engine.policy.compiled import CompiledPolicy
from engine.policy.store import ReloadOutcome
from engine.routing.health import BreakerState
from engine.routing.outcome import AttemptRecord, Outcome
from engine.routing.plan import Attempt, Plan
from engine.usage_rows import Ending

log = logging.getLogger("turnout.observability")

BREAKER_VALUE: dict[BreakerState, int] = {"closed": 0, "half-open": 1, "open": 2}


def first_token_ms(records: list[AttemptRecord]) -> float | None:
    """The time to first token the client saw: the first attempt it got output from (else
    the last attempt's, for a request that failed)."""
    first: AttemptRecord | None = None
    for record in records:
        if record.delivered and (first is None or record.number < first.number):
            first = record
    if first is not None:
        return first.ttfb_ms
    return records[-1].ttfb_ms if records else None


class Recorder:
    def __init__(
        self, metrics: Metrics | None = None, access: AccessLog | None = None, tracing: Tracing | None = None
    ) -> None:
        self.metrics = metrics
        self.access = access
        self.tracing = tracing
        self._in_flight: dict[str, int] = {}  # client format -> requests (published by ``refresh``)
        self._streams: dict[str, int] = {}
        self._breakers: dict[tuple[str, str], int] = {}
        self._version: str | None = None
        self._dropped_seen = 0

    # ---- one request ------------------------------------------------------------------

    def arrived(self, fmt: str) -> None:
        self._in_flight[fmt] = self._in_flight.get(fmt, 0) + 1

    def finished(self, call: Call, outcome: Outcome | None, records: list[AttemptRecord], ending: Ending) -> None:
        """A planned request ended: ``ending`` is what its usage row says."""
        duration = time.perf_counter() - call.started
        policy, route, ingress = call.policy, call.route, call.ingress
        served = outcome.attempt.target if outcome is not None else None
        channel = bounded(served.channel, policy.channels) if served else ""
        model = bounded(served.model, policy.models) if served else ""
        fmt = ingress.fmt
        self._in_flight[fmt] = self._in_flight.get(fmt, 0) - 1
        metrics = self.metrics
        if metrics is not None:
            alias = bounded(route.alias, policy.aliases)
            metrics.requests.add((fmt, alias, model, channel, status_label(ending.status)))
            metrics.request_duration.observe((fmt, alias), duration)
            self._attempts(metrics, policy, records, ending)
            if call.canary_version is not None:
                rescued = call.canary_version != policy.version
                ended = "rescued" if rescued else "failed" if ending.status >= 500 else "served"
                metrics.canary_requests.add((call.canary_version, ended))
        access = self.access
        if access is not None and access.enabled:
            usage = ending.charge.usage
            access.write(
                AccessEntry(
                    ingress.request_id, call.principal.key_name, ingress.fmt, ingress.endpoint,
                    route.alias, route.rule, served.channel if served else None, served.model if served else None,
                    ending.status, ending.error_type, len(records), first_token_ms(records), duration * 1000,
                    usage.input_tokens, usage.output_tokens, ending.charge.cost_usd, ending.charge.estimated,
                )
            )  # fmt: skip
        if self.tracing is not None:
            self.tracing.finished(call, outcome, records, ending)

    def _attempts(self, metrics: Metrics, policy: CompiledPolicy, records: list[AttemptRecord], ending: Ending) -> None:
        per_attempt = ending.per_attempt
        for index, record in enumerate(records):
            target = record.attempt.target
            channel, model = bounded(target.channel, policy.channels), bounded(target.model, policy.models)
            outcome = attempt_outcome(record)
            pair = (channel, model)
            metrics.attempts.add((channel, model, outcome))
            if outcome == "ok":
                if record.ttfb_ms is not None:
                    metrics.ttft.observe(pair, record.ttfb_ms / 1000)
                metrics.latency.observe(pair, record.latency_ms / 1000)
            if per_attempt is not None and record.delivered:
                charge = per_attempt[index]
                if charge.usage.input_tokens > 0:
                    metrics.tokens.add((channel, model, "input"), charge.usage.input_tokens)
                if charge.usage.output_tokens > 0:
                    metrics.tokens.add((channel, model, "output"), charge.usage.output_tokens)
                if charge.cost_usd > 0:
                    metrics.cost.add(pair, charge.cost_usd)

    def canary_failed(self, call: Call, records: list[AttemptRecord], ending: Ending) -> None:
        """The canary's attempts of a request the stable policy then answers (the request
        itself is counted when that ends)."""
        if self.metrics is not None:
            self._attempts(self.metrics, call.policy, records, ending)

    def canary_state(self, version: str, rolled_back: bool) -> None:
        """A canary version serves (False) or was rolled back (True): the monitor says so."""
        if self.metrics is not None:
            self.metrics.canary_rolled_back.get(version).set(1 if rolled_back else 0)

    def rejected(self, ingress: Ingress, err: GatewayError, started: float) -> None:
        """A request that ended before it was planned (nothing was routed)."""
        self._unplanned(ingress, started, err.status, err.kind)

    def unread(self, ingress: Ingress, started: float, status: int, error: str) -> None:
        """A request refused (or abandoned by its client) while its body was read, before
        the pipeline saw it: counted, logged and traced like one refused after."""
        self.arrived(ingress.fmt)
        self._unplanned(ingress, started, status, error)

    def aborted(self, ingress: Ingress, started: float, status: int, error: str) -> None:
        """A request that ended without its usual end: an internal error (500), or its task
        cancelled (499, the client went away while nothing was sent yet)."""
        self._unplanned(ingress, started, status, error)

    def _unplanned(self, ingress: Ingress, started: float, status: int, error: str) -> None:
        duration = time.perf_counter() - started
        self._in_flight[ingress.fmt] = self._in_flight.get(ingress.fmt, 0) - 1
        if self.metrics is not None:
            self.metrics.requests.add((ingress.fmt, "", "", "", status_label(status)))
            self.metrics.request_duration.observe((ingress.fmt, ""), duration)
        if self.access is not None and self.access.enabled:
            self.access.write(
                AccessEntry(
                    ingress.request_id, "-", ingress.fmt, ingress.endpoint, None, None, None, None,
                    status, error, 0, None, duration * 1000, 0, 0, 0.0, False,
                )
            )  # fmt: skip
        if self.tracing is not None:
            self.tracing.unplanned(ingress, started, status, error)

    def stream_opened(self, fmt: str) -> None:
        self._streams[fmt] = self._streams.get(fmt, 0) + 1

    def stream_closed(self, fmt: str) -> None:
        self._streams[fmt] = self._streams.get(fmt, 0) - 1

    # ---- the executor's events (``engine.routing.events.RoutingEvents``) ----------------
    # A plan's names are the policy's by construction (the planner only emits its targets).

    def retried(self, plan: Plan, attempt: Attempt) -> None:
        if self.metrics is not None:
            self.metrics.retries.add((attempt.target.channel, attempt.target.model))

    def fell_back(self, plan: Plan, attempt: Attempt) -> None:
        if self.metrics is not None:
            self.metrics.fallbacks.add((plan.alias or "", attempt.target.channel, attempt.target.model))

    def hedged(self, plan: Plan, attempt: Attempt) -> None:
        if self.metrics is not None:
            self.metrics.hedges.add((plan.alias or "", attempt.target.channel, attempt.target.model))

    def resumed(self, plan: Plan, attempt: Attempt) -> None:
        if self.metrics is not None:
            self.metrics.resumes.add((plan.alias or "", attempt.target.channel, attempt.target.model))

    # ---- the worker's state ------------------------------------------------------------

    def reloaded(self, outcome: ReloadOutcome) -> None:
        if self.metrics is not None:
            self.metrics.reloads.get(outcome.status).inc()

    def refresh(
        self,
        policy: CompiledPolicy,
        reload_failing: bool,
        breakers: Iterable[tuple[str, str, BreakerState]],
        usage_queue: tuple[int, int] | None,
    ) -> None:
        """Write the pending counts (``Metrics.flush``), then the gauges from the worker's
        state: requests and streams in flight, the policy serving, whether its last reload
        failed, each channel+model's breaker, and the usage log's (pending, dropped) rows.
        Only what changed since the last call is written."""
        metrics = self.metrics
        if metrics is None:
            return
        metrics.flush()
        for fmt, count in self._in_flight.items():
            metrics.in_flight.get(fmt).set(count)
        for fmt, count in self._streams.items():
            metrics.streams.get(fmt).set(count)
        if policy.version != self._version:
            if self._version is not None:
                metrics.policy.get(self._version).set(0)
            metrics.policy.get(policy.version).set(1)
            self._version = policy.version
        metrics.reload_failing.get().set(1 if reload_failing else 0)
        seen: set[tuple[str, str]] = set()
        for channel, model, state in breakers:
            pair = (channel, model)
            seen.add(pair)
            value = BREAKER_VALUE[state]
            if self._breakers.get(pair) != value:
                metrics.breaker.get(channel, model).set(value)
                self._breakers[pair] = value
        for pair in [p for p in self._breakers if p not in seen]:  # gone from the policy
            metrics.breaker.get(*pair).set(0)
            del self._breakers[pair]
        if usage_queue is not None:
            pending, dropped = usage_queue
            metrics.usage_queue.get().set(pending)
            if dropped > self._dropped_seen:
                metrics.usage_dropped.get().inc(dropped - self._dropped_seen)
                self._dropped_seen = dropped
