"""What the running gateway lets an operator see: ``GET /metrics`` after known traffic (a
retried-then-fallen-back request, a stream, refusals), the access-log line of each request
in text and JSON, the ``x-turnout-cost`` header against the policy's prices, and that no
key, prompt or output ever reaches the log or the metrics.

The policy is the core one (``conftest.CORE_POLICY``) on a gateway of this module's own, so
the counters start at zero. Metrics are read with prometheus_client's own parser.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import FAKE_KEY, StartGateway, core_policy
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Status
from tests.support.wire_checks import route_fields

CLIENT_KEY = "sk-client-observability-secret"
AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
PROMPT_MARK = "zebra-prompt-marker"  # the fake echoes the prompt, so this is also the output
UNKNOWN_MODEL = "no-such-model-from-a-client"
WRONG_KEY = "sk-wrong-key-never-logged"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(gateway: GatewayProcess) -> tuple[Samples, str]:
    response = httpx.get(f"{gateway.base_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found, response.text


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def chat(gateway: GatewayProcess, model: str, text: str, **extra: Any) -> httpx.Response:
    headers = extra.pop("headers", AUTH)
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def stream(gateway: GatewayProcess, model: str, text: str) -> httpx.Response:
    body = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},  # the fake reports usage: exact tokens
        "messages": [{"role": "user", "content": text}],
    }
    with httpx.stream(
        "POST", f"{gateway.base_url}/v1/chat/completions", json=body, headers=AUTH, timeout=30
    ) as response:
        response.read()
    return response


def access_lines(gateway: GatewayProcess) -> list[dict[str, str]]:
    """The text access-log lines, as dicts of their ``key=value`` fields."""
    lines = []
    for line in gateway.logs().splitlines():
        _, sep, fields = line.partition(" turnout.access: ")
        if sep:
            lines.append(dict(part.split("=", 1) for part in shlex.split(fields)))
    return lines


def access_line(gateway: GatewayProcess, request_id: str) -> dict[str, str]:
    """The request's line (a stream's is written when it closes, just after its last byte)."""
    deadline = time.monotonic() + 5
    while True:
        matching = [line for line in access_lines(gateway) if line["request_id"] == request_id]
        if matching or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(matching) == 1, gateway.logs()
    return matching[0]


def expected_cost(policy_prices: tuple[str, str], usage: dict[str, int]) -> str:
    """The charge at the policy's prices (USD per 1M tokens), half-even to a micro-dollar."""
    input_price, output_price = (Decimal(p) for p in policy_prices)
    micros = usage["prompt_tokens"] * input_price + usage["completion_tokens"] * output_price
    return str((micros / 1_000_000).quantize(Decimal("0.000001")))


@pytest.fixture(scope="module")
def gateway(launch: StartGateway, fake_a: FakeUpstream, fake_b: FakeUpstream) -> GatewayProcess:
    return launch(core_policy(fake_a, fake_b), {"TURNOUT_API_KEYS": CLIENT_KEY})


@pytest.fixture(scope="module")
def traffic(gateway: GatewayProcess, fake_a: FakeUpstream, fake_b: FakeUpstream) -> Iterator[dict[str, httpx.Response]]:
    """Known traffic, once: a fallback, a stream, an Anthropic client, an unknown model, a
    wrong key, a body in an encoding the gateway does not read."""
    fake_a.reset()
    fake_b.reset()
    fake_a.script("upstream-small", Status(500), Status(500))
    sent = {
        "fallback": chat(gateway, "smart", f"fall back please {PROMPT_MARK}"),
        "stream": stream(gateway, "big-model", f"stream these four words {PROMPT_MARK}"),
        "unknown": chat(gateway, UNKNOWN_MODEL, "hello"),
        "wrong_key": chat(gateway, "smart", "hello", headers={"authorization": f"Bearer {WRONG_KEY}"}),
        "anthropic": httpx.post(
            f"{gateway.base_url}/v1/messages",
            json={"model": "solo-model", "max_tokens": 50, "messages": [{"role": "user", "content": "hi there"}]},
            headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
            timeout=30,
        ),
        "unreadable": httpx.post(
            f"{gateway.base_url}/v1/chat/completions",
            content=b"\x00\x01",
            headers={**AUTH, "content-encoding": "br", "content-type": "application/json"},
            timeout=30,
        ),
    }
    yield sent
    fake_a.reset()


def test_metrics_count_known_traffic_with_a_fallback_and_a_stream(
    gateway: GatewayProcess, traffic: dict[str, httpx.Response]
) -> None:
    fallback, streamed = traffic["fallback"], traffic["stream"]
    assert fallback.status_code == 200 and streamed.status_code == 200
    assert route_fields(fallback.headers)["attempts"] == "3"
    assert (traffic["unknown"].status_code, traffic["wrong_key"].status_code) == (404, 401)
    assert (traffic["anthropic"].status_code, traffic["unreadable"].status_code) == (200, 415)
    found, text = samples(gateway)

    requests = "turnout_requests_total"
    assert (
        value(found, requests, format="openai", alias="smart", model="small-model", channel="backup", status="200") == 1
    )
    assert value(found, requests, format="openai", alias="", model="big-model", channel="primary", status="200") == 1
    assert value(found, requests, format="openai", alias="", model="", channel="", status="404") == 1
    assert value(found, requests, format="openai", alias="", model="", channel="", status="401") == 1
    assert value(found, requests, format="openai", alias="", model="", channel="", status="415") == 1
    assert (
        value(found, requests, format="anthropic", alias="", model="solo-model", channel="primary", status="200") == 1
    )

    attempts = "turnout_upstream_attempts_total"
    assert value(found, attempts, channel="primary", model="small-model", outcome="server") == 2
    assert value(found, attempts, channel="backup", model="small-model", outcome="ok") == 1
    assert value(found, attempts, channel="primary", model="big-model", outcome="ok") == 1
    assert value(found, "turnout_retries_total", channel="primary", model="small-model") == 1
    assert value(found, "turnout_fallbacks_total", alias="smart", channel="backup", model="small-model") == 1

    for channel, model in (("backup", "small-model"), ("primary", "big-model")):
        for histogram in ("turnout_upstream_time_to_first_token_seconds", "turnout_upstream_latency_seconds"):
            assert value(found, f"{histogram}_count", channel=channel, model=model) == 1
            assert value(found, f"{histogram}_bucket", channel=channel, model=model, le="+Inf") == 1
    # failed attempts are counted, not timed
    assert value(found, "turnout_upstream_latency_seconds_count", channel="primary", model="small-model") == 0
    assert value(found, "turnout_request_duration_seconds_count", format="openai", alias="smart") == 1

    # tokens and cost: what the fake reported (one token per word) at the policy's prices
    fallback_usage = fallback.json()["usage"]
    tokens = "turnout_tokens_total"
    assert (
        value(found, tokens, channel="backup", model="small-model", direction="input")
        == fallback_usage["prompt_tokens"]
    )
    assert (
        value(found, tokens, channel="backup", model="small-model", direction="output")
        == fallback_usage["completion_tokens"]
    )
    assert value(found, tokens, channel="primary", model="big-model", direction="output") == 5  # five words streamed
    cost = value(found, "turnout_cost_usd_total", channel="backup", model="small-model")
    assert f"{cost:.6f}" == fallback.headers["x-turnout-cost"]

    assert value(found, "turnout_requests_in_flight", format="openai") == 0
    assert value(found, "turnout_streams_in_flight", format="openai") == 0
    assert value(found, "turnout_breaker_state", channel="primary", model="small-model") == 0
    assert value(found, "turnout_policy_info", version=fallback.headers["x-turnout-policy"]) == 1
    assert value(found, "turnout_policy_reload_failing") == 0
    assert ("turnout_usage_log_dropped_rows_total", frozenset()) in found

    # bounded labels: nothing a client sent
    for secret in (UNKNOWN_MODEL, WRONG_KEY, CLIENT_KEY, FAKE_KEY, PROMPT_MARK):
        assert secret not in text


def test_access_log_line_has_the_request_fields(gateway: GatewayProcess, traffic: dict[str, httpx.Response]) -> None:
    fallback = traffic["fallback"]
    line = access_line(gateway, fallback.headers["x-request-id"])
    assert {k: line[k] for k in ("key", "format", "endpoint", "alias", "rule", "channel", "model")} == {
        "key": "static",
        "format": "openai",
        "endpoint": "/v1/chat/completions",
        "alias": "smart",
        "rule": "2",
        "channel": "backup",
        "model": "small-model",
    }
    assert (line["status"], line["error"], line["attempts"], line["estimated"]) == ("200", "-", "3", "false")
    usage = fallback.json()["usage"]
    assert (int(line["tokens_in"]), int(line["tokens_out"])) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert line["cost_usd"] == fallback.headers["x-turnout-cost"]
    assert float(line["ttft_ms"]) <= float(line["duration_ms"])

    refused = access_line(gateway, traffic["unknown"].headers["x-request-id"])
    assert (refused["status"], refused["error"], refused["key"], refused["model"]) == ("404", "not_found", "-", "-")
    denied = access_line(gateway, traffic["wrong_key"].headers["x-request-id"])
    assert (denied["status"], denied["attempts"]) == ("401", "0")
    unread = access_line(gateway, traffic["unreadable"].headers["x-request-id"])
    assert (unread["status"], unread["format"]) == ("415", "openai")
    anthropic = access_line(gateway, traffic["anthropic"].headers["x-request-id"])
    assert (anthropic["format"], anthropic["endpoint"], anthropic["model"]) == (
        "anthropic",
        "/v1/messages",
        "solo-model",
    )
    assert anthropic["cost_usd"] == traffic["anthropic"].headers["x-turnout-cost"]


def test_stream_cost_is_in_the_access_log_not_a_header(
    gateway: GatewayProcess, traffic: dict[str, httpx.Response]
) -> None:
    streamed = traffic["stream"]
    assert "x-turnout-cost" not in streamed.headers  # only known at the end of the stream
    line = access_line(gateway, streamed.headers["x-request-id"])
    assert (line["model"], line["status"], line["tokens_out"], line["estimated"]) == ("big-model", "200", "5", "false")
    assert line["cost_usd"] == expected_cost(("1.0", "2.0"), {"prompt_tokens": 5, "completion_tokens": 5})


def test_no_key_prompt_or_output_in_the_log(gateway: GatewayProcess, traffic: dict[str, httpx.Response]) -> None:
    logs = gateway.logs()
    assert len(access_lines(gateway)) >= 6
    for secret in (CLIENT_KEY, WRONG_KEY, FAKE_KEY, PROMPT_MARK):
        assert secret not in logs


def test_cost_header_is_the_charge_at_the_policys_prices(gateway: GatewayProcess) -> None:
    words = " ".join(["word"] * 47)
    response = chat(gateway, "big-model", words)  # price: input 1.0, output 2.0 per 1M tokens
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert usage["prompt_tokens"] == 47
    assert response.headers["x-turnout-cost"] == expected_cost(("1.0", "2.0"), usage) == "0.000141"
    cheap = chat(gateway, "solo-model", words)  # 0.5 and 0.5
    assert cheap.headers["x-turnout-cost"] == expected_cost(("0.5", "0.5"), cheap.json()["usage"]) == "0.000047"


def test_json_access_log(launch: StartGateway, fake_a: FakeUpstream, fake_b: FakeUpstream) -> None:
    gateway = launch(core_policy(fake_a, fake_b), {"TURNOUT_API_KEYS": CLIENT_KEY, "TURNOUT_LOG_FORMAT": "json"})
    response = chat(gateway, "smart", f"json please {PROMPT_MARK}")
    assert response.status_code == 200
    stderr = (gateway.workdir / "stderr.log").read_text()
    records = [orjson.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert records and all(isinstance(r, dict) for r in records)
    access = [r for r in records if r.get("logger") == "turnout.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == response.headers["x-request-id"]
    assert (entry["key"], entry["format"], entry["alias"], entry["rule"]) == ("static", "openai", "smart", "2")
    assert (entry["channel"], entry["model"], entry["status"], entry["attempts"]) == ("primary", "small-model", 200, 1)
    assert entry["error"] is None and entry["estimated"] is False
    assert entry["cost_usd"] == response.headers["x-turnout-cost"]
    assert entry["tokens_in"] == response.json()["usage"]["prompt_tokens"]
    assert isinstance(entry["ttft_ms"], float) and isinstance(entry["duration_ms"], float)
    assert entry["level"] == "info" and entry["time"].endswith("Z")
    # every line of the worker is JSON once it started (the policy warning comes before)
    started = stderr[stderr.index("{") :]
    assert all(line.startswith("{") for line in started.splitlines() if line.strip())
    assert PROMPT_MARK not in stderr and CLIENT_KEY not in stderr


def test_database_driver_lines_only_when_asked(
    launch: StartGateway, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> None:
    quiet = launch(core_policy(fake_a, fake_b), {"TURNOUT_API_KEYS": CLIENT_KEY, "TURNOUT_LOG_LEVEL": "debug"})
    assert chat(quiet, "smart", "hi").status_code == 200
    loud = launch(
        core_policy(fake_a, fake_b),
        {"TURNOUT_API_KEYS": CLIENT_KEY, "TURNOUT_LOG_LEVEL": "debug", "TURNOUT_LOG_SQL": "1"},
    )
    assert chat(loud, "smart", "hi").status_code == 200
    drivers = (" sqlalchemy.", " aiosqlite:", " alembic.")
    assert not [line for line in quiet.logs().splitlines() if any(d in line for d in drivers)]
    assert [line for line in loud.logs().splitlines() if " sqlalchemy.engine" in line]
    assert " turnout.access: " in quiet.logs()  # the gateway's own lines are all there
