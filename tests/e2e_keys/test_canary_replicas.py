"""A canary across two replicas on one PostgreSQL database: both put the same conversation
on the same side, the rollback is decided once, and both stop sending the canary traffic."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e_keys.deployment import deployment
from tests.e2e_keys.services import REDIS_URL, fresh_database
from tests.e2e_keys.waiting import wait_until
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.policy_files import write_policy
from tests.support.replies import Status

OPERATOR_KEY = "sk-e2e-canary-operator"
POLICY = """
[channels.fake]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "stable-model" = "up-stable", "canary-model" = "up-canary" }}

[models.stable-model]
[models.canary-model]

[retry]
attempts = 1

[canary]
percent = 50
header = "x-turnout-canary"
rollback = "canary.requests >= 6 && canary.error_rate > 0.5"
window = "5m"
check_every = "0.3s"
"""


@dataclass
class Pair:
    a: GatewayProcess
    b: GatewayProcess


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream) -> Iterator[Pair]:
    with fresh_database() as database_url:
        env = {
            "TURNOUT_DATABASE_URL": database_url,
            "TURNOUT_REDIS_URL": REDIS_URL,
            "TURNOUT_SECRET_KEY": "e2e-canary-replicas-hmac-key-0123456789",
            "TURNOUT_API_KEYS": OPERATOR_KEY,
        }
        site = deployment(tmp_path_factory.mktemp("canary-replicas"), POLICY.format(base=fake.base_url), env)
        write_policy(site.policy_dir, '[aliases.chat]\ncandidates = ["stable-model"]\n', "aliases.toml")
        write_policy(site.policy_dir / "canary", '[aliases.chat]\ncandidates = ["canary-model"]\n', "aliases.toml")
        assert "current" in site.cli.run("db", "upgrade").lower()
        pool = ThreadPoolExecutor(2)  # the replicas live as long as the threads that started them
        try:
            a, b = pool.map(site.start, ("replica-a", "replica-b"))
            try:
                yield Pair(a, b)
            finally:
                a.stop()
                b.stop()
        finally:
            pool.shutdown()


def _chat(gateway: GatewayProcess, text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"model": "chat", "messages": [{"role": "user", "content": text}]}
    auth = {"authorization": f"Bearer {OPERATOR_KEY}", **(headers or {})}
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, headers=auth, timeout=10)


def _canary(gateway: GatewayProcess) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{gateway.base_url}/api/status", timeout=5).json()["canary"]
    return found


def test_two_replicas_split_alike_and_roll_back_together(pair: Pair, fake: FakeUpstream) -> None:
    canary = _canary(pair.a)["version"]
    assert _canary(pair.b)["version"] == canary

    sides = []
    for i in range(24):
        on_a, on_b = _chat(pair.a, f"conversation {i}"), _chat(pair.b, f"conversation {i}")
        assert on_a.status_code == on_b.status_code == 200
        assert on_a.headers["x-turnout-policy"] == on_b.headers["x-turnout-policy"]
        sides.append(on_a.headers.get("x-turnout-canary") == canary)
    assert 0 < sum(sides) < len(sides)  # both sides served some conversations

    fake.always("up-canary", Status(500))
    replies = []
    for i in range(200):
        if _canary(pair.a)["state"] == _canary(pair.b)["state"] == "rolled_back":
            break
        replies.append(_chat((pair.a, pair.b)[i % 2], f"failing {i}", {"x-turnout-canary": "canary"}))
    assert all(r.status_code == 200 for r in replies)  # the stable policy answered each
    assert any(r.headers.get("x-turnout-canary") == f"{canary} rescued" for r in replies)

    decided_a = wait_until(lambda: _canary(pair.a)["rolled_back"], what="replica A's rollback")
    decided_b = wait_until(lambda: _canary(pair.b)["rolled_back"], what="replica B's rollback")
    assert decided_a == decided_b  # one decision, stored once, read by both
    assert "canary.error_rate > 0.5" in decided_a["reason"]

    tried = len(fake.requests_for("up-canary"))
    for gateway in (pair.a, pair.b, pair.a, pair.b):
        after = _chat(gateway, "after", {"x-turnout-canary": "canary"})
        assert after.status_code == 200 and "x-turnout-canary" not in after.headers
    assert len(fake.requests_for("up-canary")) == tried  # neither replica sends it anything more
