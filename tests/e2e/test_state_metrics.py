"""The gauges that follow the worker's state, on the running gateway: a breaker opening
after a failure, and policy reloads (a broken file keeps the old policy serving and says
so; the fixed file swaps the version)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import CORE_POLICY, StartGateway
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.policy_files import write_policy
from tests.support.replies import Status

Found = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(gateway: GatewayProcess) -> Found:
    text = httpx.get(f"{gateway.base_url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def wait_for(gateway: GatewayProcess, check: Callable[[Found], bool]) -> Found:
    deadline = time.monotonic() + 10
    while True:
        found = scrape(gateway)
        if check(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def get(found: Found, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def test_breaker_state_and_reloads(launch: StartGateway, fake_a: FakeUpstream, fake_b: FakeUpstream) -> None:
    strict = CORE_POLICY.replace("failures = 1000\ncooldown = 0", "failures = 1\ncooldown = 600")
    policy = strict.format(a=fake_a.base_url, b=fake_b.base_url)
    gateway = launch(policy)
    version = httpx.get(f"{gateway.base_url}/healthz").json()["policy"]
    found = scrape(gateway)
    assert get(found, "turnout_breaker_state", channel="primary", model="solo-model") == 0
    assert get(found, "turnout_breaker_state", channel="keyless", model="orphan-model") is None  # disabled channel
    assert get(found, "turnout_policy_info", version=version) == 1

    fake_a.script("upstream-solo", Status(500), Status(500))
    body = {"model": "solo-model", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, timeout=30).status_code == 502
    found = scrape(gateway)
    assert get(found, "turnout_breaker_state", channel="primary", model="solo-model") == 2  # open
    assert get(found, "turnout_breaker_state", channel="primary", model="big-model") == 0

    policy_dir = gateway.workdir.parent / "policies"
    write_policy(policy_dir, policy + "\n[models.broken\n")
    found = wait_for(gateway, lambda f: get(f, "turnout_policy_reload_failing") == 1)
    assert get(found, "turnout_policy_reload_failing") == 1
    assert (get(found, "turnout_policy_reloads_total", result="failed") or 0) >= 1  # a write may be seen twice
    assert get(found, "turnout_policy_info", version=version) == 1  # the old policy keeps serving

    write_policy(policy_dir, policy.replace("context_window = 8000", "context_window = 9000", 1))
    found = wait_for(gateway, lambda f: get(f, "turnout_policy_reloads_total", result="swapped") == 1)
    assert get(found, "turnout_policy_reloads_total", result="swapped") == 1  # a second event would be "unchanged"
    assert get(found, "turnout_policy_reload_failing") == 0
    assert get(found, "turnout_policy_info", version=version) == 0
    new_version = httpx.get(f"{gateway.base_url}/healthz").json()["policy"]
    assert new_version != version and get(found, "turnout_policy_info", version=new_version) == 1
