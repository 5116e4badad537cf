"""Tracing with the SDK's in-memory exporter: which environments turn it on, and the span
of a request refused before routing (the e2e test covers routed requests and attempts)."""

from __future__ import annotations

import time

import pytest

from engine.call import Ingress
from engine.observability.tracing import Tracing, exporter_name

pytest.importorskip("opentelemetry.sdk.trace")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({}, None),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "Console"}, "console"),
    ],
)
def test_exporter_from_the_environment(environ: dict[str, str], name: str | None) -> None:
    assert exporter_name(environ) == name


def test_unsupported_exporter_is_no_tracing() -> None:
    assert Tracing.from_environment({"OTEL_TRACES_EXPORTER": "zipkin"}) is None


def test_refused_request_span_continues_the_incoming_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "authorization": "Bearer sk-x"}
    ingress = Ingress("openai", "/v1/chat/completions", b"{}", "sk-x", "127.0.0.1", headers, "req_9")
    started = time.perf_counter() - 0.25
    tracing.unplanned(ingress, started, 401, "authentication_error")
    (span,) = exporter.get_finished_spans()
    assert span.kind == SpanKind.SERVER and span.name == "chat"
    assert span.context is not None and span.parent is not None
    assert span.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert span.parent.span_id == 0xB7AD6B7169203331
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 401
    assert span.attributes["error.type"] == "authentication_error"
    assert span.attributes["turnout.request_id"] == "req_9"
    assert "sk-x" not in str(dict(span.attributes))
    assert span.start_time is not None and span.end_time is not None
    assert span.end_time - span.start_time >= 0.24e9  # the span starts when the request arrived
    assert span.status.status_code == StatusCode.UNSET  # a 4xx is the client's error, not the server's
