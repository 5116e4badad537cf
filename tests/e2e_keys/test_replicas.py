"""Scale-out: two Turnout processes on one PostgreSQL database and one Redis.

``turnout db upgrade`` prepares a fresh database; both replicas share ``TURNOUT_SECRET_KEY``
and a static operator key (so neither runs open while the keys are being created), and
start at the same moment (the first start of two replicas on a fresh database used to
fail one of them on the HMAC key fingerprint row, engine/state/meta.py). Keys are
made through replica A's admin API, requests are spread over both, and the tests show that
limits, balances and revocations are one thing across the replicas, not one per process.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest

from tests.e2e_keys.admin import Admin, CreatedKey
from tests.e2e_keys.deployment import ADMIN_TOKEN, Deployment, deployment
from tests.e2e_keys.sdk_calls import Callers, Refusal, Reply
from tests.e2e_keys.services import REDIS_URL, delete_rate_limits, fresh_database
from tests.e2e_keys.waiting import wait_until
from tests.support import openai_wire
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Json

POLICY = """
[channels.fake]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "cheap-model" = "up-cheap", "metered-model" = "up-metered" }}

[models.cheap-model]
context_window = 8000

[models.metered-model]
price = {{ input = 0, output = 100 }}   # only output is priced: a call's worst case is its real cost
context_window = 8000

[groups.default]
models = ["*"]

[groups.ten-rpm]
models = ["cheap-model"]
rpm = 10

[groups.payg]
models = ["metered-model"]
price_multiplier = 2
"""
MAX_TOKENS = 50
CALL_MICROS = MAX_TOKENS * 100 * 2  # every metered call uses all its output tokens: 10,000 micro-USD
AFFORDABLE = 5
CREDITS_MICROS = AFFORDABLE * CALL_MICROS + CALL_MICROS // 2  # 5.5 calls' worth
REVOCATION_DEADLINE = 5.0  # the promise is 1 s; the assertion allows slow machines


@dataclass
class Replicas:
    site: Deployment
    a: GatewayProcess
    b: GatewayProcess
    admin: Admin  # replica A's admin API
    admin_b: Admin
    key_ids: list[str] = field(default_factory=list)

    def create_key(self, name: str, **fields: Any) -> CreatedKey:
        key = self.admin.create_key(name, **fields)
        self.key_ids.append(key.id)
        return key


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream) -> Iterator[Replicas]:
    with fresh_database() as database_url:
        env = {
            "TURNOUT_DATABASE_URL": database_url,
            "TURNOUT_REDIS_URL": REDIS_URL,
            "TURNOUT_SECRET_KEY": "e2e-keys-replicas-hmac-key-0123456789",
            "TURNOUT_API_KEYS": "sk-e2e-static-operator",
        }
        site = deployment(tmp_path_factory.mktemp("replicas"), POLICY.format(base=fake.base_url), env)
        assert "current" in site.cli.run("db", "upgrade").lower()
        # Started side by side. A gateway gets SIGTERM when the *thread* that started it ends
        # (PR_SET_PDEATHSIG is per thread), so the pool lives as long as the replicas do.
        pool = ThreadPoolExecutor(2)
        try:
            a, b = pool.map(site.start, ("replica-a", "replica-b"))
        except BaseException:
            pool.shutdown()
            raise
        group = Replicas(site, a, b, Admin(a.base_url, ADMIN_TOKEN), Admin(b.base_url, ADMIN_TOKEN))
        try:
            yield group
        finally:
            group.admin.close()
            group.admin_b.close()
            a.stop()
            b.stop()
            pool.shutdown()
            delete_rate_limits(group.key_ids)


async def _burst(replicas: Replicas, secret: str, model: str, count: int, **extra: Any) -> list[tuple[str, int, Any]]:
    """``count`` concurrent chat calls, alternating between replica A and B: (replica, status, error code)."""
    bases = {"A": replicas.a.base_url, "B": replicas.b.base_url}
    sdks = {
        name: openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0) for name, url in bases.items()
    }

    async def one(name: str) -> tuple[str, int, Any]:
        try:
            await sdks[name].chat.completions.create(model=model, messages=[{"role": "user", "content": "go"}], **extra)
        except openai.APIStatusError as exc:
            return name, exc.status_code, exc.code
        return name, 200, None

    try:
        return await asyncio.gather(*(one("AB"[i % 2]) for i in range(count)))
    finally:
        for sdk in sdks.values():
            await sdk.close()


async def test_rpm_limit_is_shared_by_both_replicas(replicas: Replicas, fake: FakeUpstream) -> None:
    key = replicas.create_key("ten-a-minute", group="ten-rpm")
    outcomes = await _burst(replicas, key.secret, "cheap-model", 16)
    statuses = Counter(status for _, status, _ in outcomes)
    assert statuses == {200: 10, 429: 6}, outcomes
    assert {code for _, status, code in outcomes if status == 429} == {"rate_limit_exceeded"}
    assert Counter(name for name, _, _ in outcomes) == {"A": 8, "B": 8}
    assert len(fake.requests) == 10


async def test_a_prepaid_balance_drains_exactly_once(replicas: Replicas, fake: FakeUpstream) -> None:
    answer = openai_wire.completion("paid", "up-metered", prompt_tokens=9, completion_tokens=MAX_TOKENS)
    fake.always("up-metered", Json(200, answer))
    key = replicas.create_key("pay-as-you-go", group="payg", prepaid=True)
    # credit through the other replica: the balance lives in the database, not in a process
    credited = replicas.admin_b.add_credits(key.account, f"{CREDITS_MICROS / 1_000_000:.6f}", note="e2e")
    assert credited["balance_micros"] == CREDITS_MICROS

    outcomes = await _burst(replicas, key.secret, "metered-model", 12, max_tokens=MAX_TOKENS)
    statuses = Counter(status for _, status, _ in outcomes)
    assert statuses == {200: AFFORDABLE, 402: 12 - AFFORDABLE}, outcomes
    assert {code for _, status, code in outcomes if status == 402} == {"insufficient_balance"}

    def settled() -> dict[str, Any] | None:
        accounts = [replicas.admin.account(key.account), replicas.admin_b.account(key.account)]
        done = all(acc["held_usd"] == 0 and acc["balance_micros"] < CREDITS_MICROS for acc in accounts)
        return accounts[0] if done and accounts[0] == accounts[1] else None

    account = wait_until(settled, what="every hold settled and both replicas agree")
    assert account["balance_micros"] == CREDITS_MICROS - AFFORDABLE * CALL_MICROS >= 0

    def charged() -> list[dict[str, Any]] | None:
        rows = replicas.admin.usage(key=key.id)
        return rows if sum(r["requests"] for r in rows) == 12 else None

    rows = wait_until(charged, what="usage rows of every request")
    assert sum(r["errors"] for r in rows) == 12 - AFFORDABLE
    assert sum(r["cost_micros"] for r in rows) == CREDITS_MICROS - account["balance_micros"]


def test_a_key_disabled_on_one_replica_is_refused_by_the_other(replicas: Replicas, fake: FakeUpstream) -> None:
    key = replicas.create_key("revocable")
    on_a, on_b = Callers(replicas.a.base_url), Callers(replicas.b.base_url)
    try:
        for callers in (on_b, on_a):  # both replicas know (cache) the key
            assert callers.chat("openai", key.secret, "cheap-model", prompt="hi") == Reply("hi")

        assert replicas.admin.patch_key(key.name, enabled=False)["enabled"] is False
        refused_at_once = on_a.chat("openai", key.secret, "cheap-model")
        assert isinstance(refused_at_once, Refusal) and refused_at_once.code == "key_disabled", refused_at_once
        started = time.monotonic()
        refusal = wait_until(
            lambda: _refused(on_b, key.secret), timeout=REVOCATION_DEADLINE, what="replica B refuses the disabled key"
        )
        print(f"replica B refused the key {time.monotonic() - started:.3f} s after replica A disabled it")
        assert (refusal.status, refusal.code) == (401, "key_disabled")

        # the CLI (its own process, on the same database and Redis) brings it back everywhere
        replicas.site.cli.run("keys", "enable", key.name)
        wait_until(
            lambda: on_b.chat("openai", key.secret, "cheap-model", prompt="back") == Reply("back"),
            timeout=REVOCATION_DEADLINE,
            what="replica B accepts the re-enabled key",
        )
        assert on_a.chat("openai", key.secret, "cheap-model", prompt="back") == Reply("back")
    finally:
        on_a.close()
        on_b.close()


def _refused(callers: Callers, secret: str) -> Refusal | None:
    outcome = callers.chat("openai", secret, "cheap-model")
    return outcome if isinstance(outcome, Refusal) else None


def test_an_operator_key_is_told_it_has_no_account(replicas: Replicas) -> None:
    for path in ("/v1/credits", "/v1/usage"):
        response = httpx.get(
            f"{replicas.a.base_url}{path}", headers={"authorization": "Bearer sk-e2e-static-operator"}, timeout=10
        )
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "no_account"
        assert "turnout keys create" in error["message"]
        assert "sk-e2e-static-operator" not in response.text
