"""Hot reload: good policies swap in under load without a failed request; a broken one
is kept out and reported, while the old version keeps serving."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import StartGateway
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.policy_files import write_policy

POLICY = """
[channels.only]
format = "openai"
base_url = "{a}"
api_key = "${{FAKE_KEY}}"
models = ["echo-model"]

[models.echo-model]
price = {{ input = {price}, output = 1.0 }}
context_window = 8000

[aliases.echo]
candidates = ["echo-model"]
"""
BROKEN = '[channels.only\nformat = "openai"\n'  # line 1: unterminated table header
WORKERS = 16
REQUESTS = 300
PICKUP_DEADLINE = 3.0  # generous: how long we wait for a reload before calling it missed


@pytest.fixture(scope="module")
def gateway(launch: StartGateway, fake_a: FakeUpstream) -> Iterator[GatewayProcess]:
    yield launch(POLICY.format(a=fake_a.base_url, price="0.5"))


def _policy_file(gateway: GatewayProcess) -> Path:
    return gateway.workdir.parent / "policies" / "policy.toml"


async def _document(http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get("/api/status") as response:
        assert response.status == 200
        document = await response.json()
    assert isinstance(document, dict)
    return document


async def _status(http: aiohttp.ClientSession) -> dict[str, Any]:
    policy = (await _document(http))["policy"]
    assert isinstance(policy, dict)
    return policy


async def _wait_status(
    http: aiohttp.ClientSession, done: Callable[[dict[str, Any]], object], what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + PICKUP_DEADLINE
    while True:
        policy = await _status(http)
        if done(policy):
            return policy
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: /api/status still says {policy}")
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Served:
    status: int
    policy: str | None
    text: str


async def _chat(http: aiohttp.ClientSession) -> Served:
    body = {"model": "echo", "messages": [{"role": "user", "content": "during reload"}]}
    async with http.post("/v1/chat/completions", json=body) as response:
        return Served(response.status, response.headers.get("x-turnout-policy"), await response.text())


def _session(gateway: GatewayProcess) -> aiohttp.ClientSession:
    # aiohttp rather than httpx.AsyncClient: the latter's pool is slow at 16 concurrent
    # requests. Room beyond WORKERS so /api/status polls never queue behind the workers.
    return aiohttp.ClientSession(
        base_url=gateway.base_url,
        connector=aiohttp.TCPConnector(limit=WORKERS + 4),
        timeout=aiohttp.ClientTimeout(total=15),
    )


async def test_good_reloads_under_load_fail_no_request(gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    path = _policy_file(gateway)
    async with _session(gateway) as http:
        versions = [(await _status(http))["version"]]
        served: list[Served] = []
        writer_done = asyncio.Event()

        async def worker() -> None:
            while len(served) < REQUESTS or not writer_done.is_set():
                served.append(await _chat(http))

        async def writer() -> None:
            for round_ in range(1, 6):
                await asyncio.sleep(0.05)
                write_policy(path.parent, POLICY.format(a=fake_a.base_url, price=f"{round_}.25"))
                new = await _wait_status(http, lambda p: p["version"] != versions[-1], f"reload {round_}")
                assert new["last_error"] is None
                versions.append(new["version"])
            writer_done.set()

        await asyncio.gather(writer(), *(worker() for _ in range(WORKERS)))
        # Started after the last reload was seen live (the last one served under load may
        # have started before it, and keeps the snapshot it started with).
        after = await _chat(http)

    assert len(served) >= REQUESTS
    assert [(s.status, s.text) for s in served if s.status != 200] == []
    assert len(set(versions)) == 6
    seen = {s.policy for s in served}
    assert seen <= set(versions)
    assert len(seen) >= 3  # requests ran on several versions while the policy changed
    assert after.status == 200 and after.policy == versions[-1]


async def test_broken_policy_is_kept_out_and_reported(gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    path = _policy_file(gateway)
    async with _session(gateway) as http:
        before = await _status(http)
        write_policy(path.parent, BROKEN)
        broken = await _wait_status(http, lambda p: p["last_error"], "broken policy not reported")
        assert broken["version"] == before["version"]
        assert isinstance(broken["last_error"], list) and broken["last_error"]
        assert any(re.search(r"policy\.toml:\d+", line) for line in broken["last_error"]), broken["last_error"]
        document = await _document(http)
        assert document["status"] == "degraded"
        assert document["policy"]["errors"] == document["policy"]["last_error"]
        async with http.get("/readyz") as response:  # the previous policy serves: still ready
            assert response.status == 200
            assert (await response.json())["checks"]["policy"] == {"ok": True, "version": before["version"]}

        served = [await _chat(http) for _ in range(5)]
        assert [s.status for s in served] == [200] * 5
        assert {s.policy for s in served} == {before["version"]}

        write_policy(path.parent, POLICY.format(a=fake_a.base_url, price="9.5"))
        fixed = await _wait_status(http, lambda p: p["version"] != before["version"], "fixed policy not loaded")
        assert fixed["last_error"] is None and fixed["errors"] == []
        assert (await _document(http))["status"] == "ok"
        assert (await _chat(http)).policy == fixed["version"]
