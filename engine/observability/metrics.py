"""The Prometheus series of one worker, and their exposition for ``GET /metrics``.

With several Granian workers every worker writes its values to memory-mapped files in one
directory per server (prometheus_client's multiprocess mode, ``engine.observability.multiproc``
makes the directory and names it in ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts);
whichever worker answers a scrape reads all of them, so counters and histograms are the sum
over the workers, including workers that have exited (a total never goes down). Gauges say
how they combine: in-flight counts and queue depths are summed over the live workers, the
breaker state and the reload-failure flag are the worst any live worker sees.

Without that directory (an app built in a test process) the values live in this object's
own registry. Either way there is no module-level state: a ``Metrics`` is made per worker.

Label values come from ``engine.observability.labels``. The request path does not write
the shared values itself (each write there takes a lock and a system call, a few µs, and a
request makes about ten): it adds to this worker's pending sums (``Family.add``,
``Family.observe``, a dict update each), and ``flush`` writes them, once per series, every
second and before a scrape (``engine.observability.gauges``), and when the worker stops.
A scrape therefore sees the answering worker's requests up to that moment and the other
workers' up to a second ago.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds: an upstream's first token takes tens of ms to tens of seconds; a whole answer up to minutes.
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0)

GaugeMode = Literal["livesum", "livemax"]


class Family:
    """One metric, its children cached by label values, and what is pending for each: an
    amount (a counter) or a sum and per-bucket counts (a histogram with ``bounds``)."""

    __slots__ = ("metric", "bounds", "_children", "_pending")

    def __init__(self, metric: Counter | Gauge | Histogram, bounds: Sequence[float] = ()) -> None:
        self.metric = metric
        self.bounds = (*bounds, float("inf")) if bounds else ()
        self._children: dict[tuple[str, ...], Any] = {}
        self._pending: dict[tuple[str, ...], list[float]] = {}

    def add(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        """A counter's increment, written at the next flush."""
        pending = self._pending.get(labels)
        if pending is None:
            self._pending[labels] = [amount]
        else:
            pending[0] += amount

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        """A histogram observation, written at the next flush."""
        pending = self._pending.get(labels)
        if pending is None:
            pending = self._pending[labels] = [0.0] * (len(self.bounds) + 1)
        pending[0] += value
        pending[1 + bisect_left(self.bounds, value)] += 1  # the first bucket whose bound >= value

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for labels, amounts in pending.items():
            child = self.get(*labels)
            if not self.bounds:
                child.inc(amounts[0])
                continue
            # what Histogram.observe writes (its sum and the one bucket), once per flush
            child._sum.inc(amounts[0])
            for bucket, count in zip(child._buckets, amounts[1:], strict=True):
                if count:
                    bucket.inc(count)

    def get(self, *labels: str) -> Any:
        if not labels:
            return self.metric
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.metric.labels(*labels)
        return child


class Metrics:
    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        if multiprocess_dir is not None and values.ValueClass is values.MutexValue:
            raise RuntimeError(
                "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: "
                "the workers' metrics would not be shared"
            )
        self.multiprocess_dir = multiprocess_dir
        self._own = CollectorRegistry(auto_describe=True) if multiprocess_dir is None else None
        self.requests = self._counter(
            "turnout_requests",
            "Client requests finished, by client format, alias, served model and channel, and HTTP status",
            ("format", "alias", "model", "channel", "status"),
        )
        self.request_duration = self._histogram(
            "turnout_request_duration_seconds",
            "Client request duration, arrival to the last byte of the answer (streams: to their end)",
            ("format", "alias"),
            LATENCY_BUCKETS,
        )
        self.attempts = self._counter(
            "turnout_upstream_attempts",
            "Upstream attempts, by channel, model and how they ended (ok or the failure kind)",
            ("channel", "model", "outcome"),
        )
        self.retries = self._counter(
            "turnout_retries", "Attempts retried on the same channel and model", ("channel", "model")
        )
        self.fallbacks = self._counter(
            "turnout_fallbacks",
            "Requests that moved on to a later candidate after a failure (labels: the candidate taken)",
            ("alias", "channel", "model"),
        )
        self.hedges = self._counter(
            "turnout_hedges",
            "Hedges fired: a candidate started to race a silent one (labels: the candidate started)",
            ("alias", "channel", "model"),
        )
        self.resumes = self._counter(
            "turnout_resumes",
            "Cut streams continued on another candidate (labels: the candidate continuing)",
            ("alias", "channel", "model"),
        )
        self.ttft = self._histogram(
            "turnout_upstream_time_to_first_token_seconds",
            "Upstream time to first byte (whole answers) or first token (streams), per attempt",
            ("channel", "model"),
            TTFT_BUCKETS,
        )
        self.latency = self._histogram(
            "turnout_upstream_latency_seconds",
            "Upstream attempt duration, start to end (streams: to their last byte)",
            ("channel", "model"),
            LATENCY_BUCKETS,
        )
        self.tokens = self._counter(
            "turnout_tokens",
            "Tokens of the attempts the client got output from, by direction (input, output)",
            ("channel", "model", "direction"),
        )
        self.cost = self._counter(
            "turnout_cost_usd", "What keys were charged, USD (the group's multiplier included)", ("channel", "model")
        )
        self.in_flight = self._gauge(
            "turnout_requests_in_flight", "Client requests being served", ("format",), "livesum"
        )
        self.streams = self._gauge("turnout_streams_in_flight", "Streamed answers open", ("format",), "livesum")
        self.breaker = self._gauge(
            "turnout_breaker_state",
            "Circuit breaker per channel and model: 0 closed, 1 half-open (probe out), 2 open; "
            "the worst any worker sees",
            ("channel", "model"),
            "livemax",
        )
        self.policy = self._gauge(
            "turnout_policy_info", "The policy version serving (value 1)", ("version",), "livemax"
        )
        self.reloads = self._counter(
            "turnout_policy_reloads",
            "Policy reloads by result (swapped, unchanged, failed); every worker reloads on its own",
            ("result",),
        )
        self.reload_failing = self._gauge(
            "turnout_policy_reload_failing",
            "1 while the last reload failed and the previous policy keeps serving",
            (),
            "livemax",
        )
        self.canary_requests = self._counter(
            "turnout_canary_requests",
            "Requests sent to a canary, by its version and how they ended: served (by the canary), "
            "failed (the canary's failure reached the client), rescued (the stable policy answered)",
            ("version", "outcome"),
        )
        self.canary_rolled_back = self._gauge(
            "turnout_canary_rolled_back",
            "Per canary version: 1 once it is rolled back, 0 while it serves",
            ("version",),
            "livemax",
        )
        self.usage_queue = self._gauge(
            "turnout_usage_log_queue_rows", "Usage-log rows waiting to be written", (), "livesum"
        )
        self.usage_dropped = self._counter(
            "turnout_usage_log_dropped_rows", "Usage-log rows dropped (database down or too slow)", ()
        )
        self._buffered = (
            self.requests, self.request_duration, self.attempts, self.retries, self.fallbacks, self.hedges,
            self.resumes, self.ttft, self.latency, self.tokens, self.cost, self.canary_requests,
        )  # fmt: skip

    def _counter(self, name: str, doc: str, labels: Sequence[str]) -> Family:
        return Family(Counter(name, doc, labels, registry=self._own))

    def _histogram(self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]) -> Family:
        return Family(Histogram(name, doc, labels, registry=self._own, buckets=buckets), buckets)

    def _gauge(self, name: str, doc: str, labels: Sequence[str], mode: GaugeMode) -> Family:
        return Family(Gauge(name, doc, labels, registry=self._own, multiprocess_mode=mode))

    def flush(self) -> None:
        """Write what the request path added since the last flush (on the event loop)."""
        for family in self._buffered:
            family.flush()

    def exposition(self) -> bytes:
        """The text format of every series (all workers' with a multiprocess directory), as
        last flushed. Safe in another thread: it only reads."""
        if self._own is not None:
            return generate_latest(self._own)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(registry)
