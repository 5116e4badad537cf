"""OpenTelemetry spans from the running gateway (the ``otel`` extra installed, the console
exporter configured with ``OTEL_TRACES_EXPORTER=console``, which writes each span as JSON on
stdout): one SERVER span per request continuing the client's ``traceparent``, one CLIENT
span per upstream attempt with the GenAI attributes, and no prompt text anywhere."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import StartGateway, core_policy
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Status

pytest.importorskip("opentelemetry.sdk.trace")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
PROMPT = "trace this prompt-marker-kestrel"


def spans(gateway: GatewayProcess) -> list[dict[str, Any]]:
    """The JSON objects the console exporter wrote to stdout."""
    text = (gateway.workdir / "stdout.log").read_text()
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    at = 0
    while True:
        at = text.find("{", at)
        if at < 0:
            return found
        obj, at = decoder.raw_decode(text, at)
        found.append(obj)


def test_request_and_attempt_spans_continue_the_callers_trace(
    launch: StartGateway, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    gateway = launch(core_policy(fake_a, fake_b), {"OTEL_TRACES_EXPORTER": "console"})
    fake_a.script("upstream-small", Status(500), Status(500))
    response = httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        json={"model": "smart", "messages": [{"role": "user", "content": PROMPT}]},
        headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        timeout=30,
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while len(spans(gateway)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    found = spans(gateway)
    requests = [s for s in found if s["kind"] == "SpanKind.SERVER"]
    attempts = [s for s in found if s["kind"] == "SpanKind.CLIENT"]
    assert len(requests) == 1 and len(attempts) == 3, found
    request = requests[0]
    assert request["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert request["parent_id"] == f"0x{PARENT_ID}"
    assert request["name"] == "chat smart"
    attributes = request["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "smart"
    assert attributes["gen_ai.response.model"] == "small-model"
    usage = response.json()["usage"]
    assert attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert attributes["http.response.status_code"] == 200
    assert attributes["turnout.request_id"] == response.headers["x-request-id"]
    assert (attributes["turnout.alias"], attributes["turnout.channel"], attributes["turnout.attempts"]) == (
        "smart",
        "backup",
        3,
    )
    assert request["resource"]["attributes"]["service.name"] == "turnout"

    attempts.sort(key=lambda s: s["attributes"]["turnout.attempt"])
    for span in attempts:
        assert span["context"]["trace_id"] == f"0x{TRACE_ID}"
        assert span["parent_id"] == request["context"]["span_id"]
        assert span["attributes"]["gen_ai.system"] == "openai"
        assert span["attributes"]["server.address"] == "127.0.0.1"
    failed, failed_again, served = attempts
    for span in (failed, failed_again):
        assert span["attributes"]["gen_ai.request.model"] == "upstream-small"
        assert span["attributes"]["error.type"] == "server"
        assert span["attributes"]["http.response.status_code"] == 500
        assert span["status"]["status_code"] == "ERROR"
    assert served["name"] == "chat small-model"  # the backup channel's upstream id
    assert served["attributes"]["turnout.channel"] == "backup"
    assert served["attributes"]["gen_ai.response.model"] == "small-model"
    assert served["attributes"]["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert "error.type" not in served["attributes"]
    assert "prompt-marker-kestrel" not in (gateway.workdir / "stdout.log").read_text()
