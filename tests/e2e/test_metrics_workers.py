"""``GET /metrics`` with two Granian workers: whichever worker answers the scrape, the
counters are the sum over both (prometheus_client's multiprocess files, one per worker,
in the directory named by ``PROMETHEUS_MULTIPROC_DIR``, which the server empties at start;
each worker writes its counts there every second and before it answers a scrape).

The test sets that directory itself so it can also read each worker's own file and check
that both workers served part of the traffic (otherwise a sum would prove nothing).
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import StartGateway, core_policy
from tests.e2e_keys.services import REDIS_URL
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess

SERVED = {"format": "openai", "alias": "", "model": "big-model", "channel": "primary", "status": "200"}


def served_total(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "turnout_requests_total" and sample.labels == SERVED:
                total += sample.value
    return total


def per_worker(directory: Path, scratch: Path) -> dict[str, float]:
    """Each worker's own count, from its counter file alone."""
    counts = {}
    for file in sorted(directory.glob("counter_*.db")):
        alone = scratch / file.stem
        alone.mkdir(parents=True)
        shutil.copy(file, alone / file.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        count = 0.0
        for metric in registry.collect():
            for sample in metric.samples:
                if sample.name == "turnout_requests_total" and sample.labels == SERVED:
                    count += sample.value
        counts[file.stem.removeprefix("counter_")] = count
    return counts


def send(gateway: GatewayProcess) -> int:
    body = {"model": "big-model", "messages": [{"role": "user", "content": "count me"}]}
    with httpx.Client() as fresh:  # a new connection each: the workers share the listening socket
        return fresh.post(f"{gateway.base_url}/v1/chat/completions", json=body, timeout=30).status_code


def test_two_workers_are_summed(
    launch: StartGateway, fake_a: FakeUpstream, fake_b: FakeUpstream, tmp_path: Path
) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_1.db").write_bytes(b"stale file of an earlier run")  # emptied at start
    env = {"TURNOUT_REDIS_URL": REDIS_URL, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    gateway = launch(core_policy(fake_a, fake_b), env, workers=2)
    sent = 0
    counts: dict[str, float] = {}
    with ThreadPoolExecutor(8) as pool:
        for _ in range(10):  # until both workers served some (the kernel picks who accepts)
            statuses = list(pool.map(lambda _: send(gateway), range(24)))
            assert statuses == [200] * 24
            sent += 24
            counts = flushed(shared, tmp_path / f"round{sent}", sent)
            if sum(1 for c in counts.values() if c > 0) >= 2:
                break
    assert len([c for c in counts.values() if c > 0]) == 2, counts
    assert sum(counts.values()) == sent
    for _ in range(8):  # scrapes land on either worker: each sees the sum
        with httpx.Client() as fresh:
            assert served_total(fresh.get(f"{gateway.base_url}/metrics", timeout=10).text) == sent


def flushed(directory: Path, scratch: Path, sent: int) -> dict[str, float]:
    """Each worker's count once both wrote what they served (a worker writes its counts
    every second: ``engine.observability.metrics``)."""
    deadline = time.monotonic() + 10
    attempt = 0
    while True:
        attempt += 1
        counts = per_worker(directory, scratch / str(attempt))
        if sum(counts.values()) == sent or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)
