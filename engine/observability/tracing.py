"""OpenTelemetry traces: one span per client request and one per upstream attempt.

Optional: the ``otel`` extra (``pip install 'turnout[otel]'``) brings the SDK and the OTLP
exporter; without them, or without an exporter configured, nothing here is imported and
no span is made. An exporter is configured with the standard variables:
``OTEL_TRACES_EXPORTER`` (``otlp`` or ``console``), or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, which then
implies ``otlp``); ``OTEL_SERVICE_NAME`` names the service (default ``turnout``).

Spans are written when a request ends, from what its records say (each attempt's start,
duration, status, usage), so the request path pays nothing while it runs. The request
span (kind SERVER) continues the trace of an incoming W3C ``traceparent`` header; each
attempt is a CLIENT child with the GenAI semantic-convention attributes
(``gen_ai.system``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.input_tokens``...). No prompt or output is ever put on a span.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from engine.call import Call, Ingress
from engine.routing.outcome import AttemptRecord, Outcome
from engine.usage_rows import Ending

log = logging.getLogger("turnout.observability")

# ``gen_ai.system`` for a channel's wire format.
GEN_AI_SYSTEM = {"openai": "openai", "openai-responses": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini"}
EXPORTERS = ("otlp", "console")


def exporter_name(environ: Mapping[str, str]) -> str | None:
    """The trace exporter the environment asks for, or None for no tracing."""
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named == "none":
        return None
    if named:
        return named
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return "otlp"
    return None


class Tracing:
    """Writes the spans of finished requests through an OpenTelemetry ``TracerProvider``."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._provider = provider
        self._trace = trace
        self._tracer = provider.get_tracer("turnout")
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Tracing | None:
        """Tracing as the environment configures it; None when it asks for none, or when
        the ``otel`` extra is not installed (said once in the log)."""
        name = exporter_name(environ)
        if name is None:
            return None
        if name not in EXPORTERS:
            log.warning("OTEL_TRACES_EXPORTER=%s is not supported (use otlp or console): no traces", name)
            return None
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

            resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "turnout"})
            provider = TracerProvider(resource=resource)
            if name == "console":
                provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        except ImportError as exc:
            log.warning("traces are configured but the otel extra is missing (pip install 'turnout[otel]'): %s", exc)
            return None
        return cls(provider)

    def shutdown(self) -> None:
        """Export what is pending (a graceful stop)."""
        self._provider.shutdown()

    def _parent(self, headers: Mapping[str, str]) -> Any:
        if "traceparent" not in headers:
            return None
        return self._propagator.extract(carrier=headers)

    def _request_span(
        self, ingress: Ingress, name: str, started: float, now: tuple[int, float], attributes: dict[str, Any]
    ) -> Any:
        from opentelemetry.trace import SpanKind

        attributes.update(
            {
                "gen_ai.operation.name": "chat",
                "http.request.method": "POST",
                "url.path": ingress.endpoint,
                "turnout.request_id": ingress.request_id,
                "turnout.client_format": ingress.fmt,
            }
        )
        return self._tracer.start_span(
            name,
            context=self._parent(ingress.headers),
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=_epoch_ns(started, now),
        )

    def _end(self, span: Any, status: int, error: str | None, now: tuple[int, float]) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            span.set_attribute("error.type", error or str(status))
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=now[0])

    def unplanned(self, ingress: Ingress, started: float, status: int, error: str) -> None:
        now = (time.time_ns(), time.perf_counter())
        span = self._request_span(ingress, "chat", started, now, {})
        self._end(span, status, error, now)

    def finished(self, call: Call, outcome: Outcome | None, records: list[AttemptRecord], ending: Ending) -> None:
        now = (time.time_ns(), time.perf_counter())
        route, usage = call.route, ending.charge.usage
        attributes: dict[str, Any] = {
            "gen_ai.request.model": route.requested,
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "turnout.key": call.principal.key_name,
            "turnout.attempts": len(records),
            "turnout.cost_usd": ending.charge.cost_usd,
            "turnout.policy_version": call.policy.version,
        }
        if call.facts.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = call.facts.max_tokens
        if route.alias:
            attributes["turnout.alias"] = route.alias
        if route.rule:
            attributes["turnout.rule"] = route.rule
        if outcome is not None:
            attributes["gen_ai.response.model"] = outcome.attempt.target.model
            attributes["turnout.channel"] = outcome.attempt.target.channel
        span = self._request_span(call.ingress, f"chat {route.requested}", call.started, now, attributes)
        context = self._trace.set_span_in_context(span)
        for record in sorted(records, key=lambda r: r.number):
            self._attempt_span(call, record, context, now)
        self._end(span, ending.status, ending.error_type, now)

    def _attempt_span(self, call: Call, record: AttemptRecord, context: Any, now: tuple[int, float]) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        target = record.attempt.target
        channel = call.policy.channels.get(target.channel)
        fmt = channel.format if channel is not None else ""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": GEN_AI_SYSTEM.get(fmt, fmt),
            "gen_ai.request.model": target.upstream_model,
            "turnout.channel": target.channel,
            "turnout.model": target.model,
            "turnout.attempt": record.number,
            "turnout.ended": record.ended,
        }
        if channel is not None:
            host = urlsplit(channel.base_url).hostname
            if host:
                attributes["server.address"] = host
        if record.status is not None:
            attributes["http.response.status_code"] = record.status
        if record.ttfb_ms is not None:
            attributes["turnout.time_to_first_token_ms"] = record.ttfb_ms
        if record.ended == "ok":
            attributes["gen_ai.response.model"] = target.upstream_model
        if record.usage is not None:
            attributes["gen_ai.usage.input_tokens"] = record.usage.input_tokens
            attributes["gen_ai.usage.output_tokens"] = record.usage.output_tokens
        if record.failure is not None:
            attributes["error.type"] = record.failure
        start = _epoch_ns(record.started, now) if record.started else now[0]
        span = self._tracer.start_span(
            f"chat {target.upstream_model}",
            context=context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=start,
        )
        if record.failure is not None:
            span.set_status(Status(StatusCode.ERROR, record.failure))  # not the message: upstreams may quote input
        span.end(end_time=start + int(record.latency_ms * 1_000_000))


def _epoch_ns(perf: float, now: tuple[int, float]) -> int:
    """A ``perf_counter`` reading as epoch nanoseconds, given (time_ns, perf_counter) of now."""
    return now[0] - int((now[1] - perf) * 1_000_000_000)
