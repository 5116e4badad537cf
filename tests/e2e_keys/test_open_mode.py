"""Open mode ends for good: a store that ever held a key never lets anonymous requests in again.

Open mode (no ``TURNOUT_API_KEYS``, no key in the store: everyone is ``anonymous``, on
loopback only) is for a store that never had a key. Each deployment here starts open,
gets its first key, then loses it again, and every process of it must then refuse a
request without a key, every time:

* two workers of one gateway (embedded SQLite store, Redis for the shared limits): the
  kernel spreads fresh connections over both workers, and before the fix the worker that
  had not seen the key in the meantime let requests through (200 or 401 at random);
* two replicas on PostgreSQL + Redis, the key created through replica A and deleted
  through replica B, and a third replica started after the deletion. The database URL is
  spelled as hosting providers hand it out: ``postgres://...?sslmode=disable`` for
  ``turnout db upgrade``, ``postgresql://`` for the replicas (which used to crash).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e_keys.admin import Admin
from tests.e2e_keys.deployment import ADMIN_TOKEN, Deployment, deployment
from tests.e2e_keys.services import REDIS_URL, delete_rate_limits, fresh_database
from tests.e2e_keys.turnout_cli import TurnoutCli, created_key
from tests.e2e_keys.waiting import wait_until
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess

POLICY = """
[channels.fake]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "open-model" = "up-open" }}

[models.open-model]
context_window = 8000

[groups.default]
models = ["*"]
"""
PROBES = 40  # fresh connections per check: both workers get some (the kernel hashes each)
OPEN_MODE_ENDED = "open mode has ended"  # what each process logs when it notices the first key
SETTLE = 1.5  # seconds of probing after the deletion: several open-mode recheck intervals


def _status(base_url: str, secret: str | None = None) -> int:
    """A chat completion on a fresh connection (so the kernel picks a worker for it)."""
    headers = {"authorization": f"Bearer {secret}"} if secret else {}
    body = {"model": "open-model", "messages": [{"role": "user", "content": "anyone there?"}]}
    with httpx.Client(timeout=10.0) as client:
        return client.post(f"{base_url}/v1/chat/completions", json=body, headers=headers).status_code


def _statuses(base_urls: list[str], count: int = PROBES) -> Counter[int]:
    return Counter(_status(base_urls[i % len(base_urls)]) for i in range(count))


def _stays_closed(base_urls: list[str]) -> Counter[int]:
    """Every status of keyless requests sent for ``SETTLE`` seconds."""
    seen: Counter[int] = Counter()
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        seen += _statuses(base_urls, 10)
    return seen


@pytest.fixture
def embedded(tmp_path: Path, fake: FakeUpstream) -> Iterator[tuple[Deployment, GatewayProcess]]:
    site = deployment(tmp_path, POLICY.format(base=fake.base_url), {"TURNOUT_REDIS_URL": REDIS_URL})
    gateway = site.start(workers=2)
    try:
        yield site, gateway
    finally:
        gateway.stop()


def _noticed(gateway: GatewayProcess, processes: int) -> bool:
    """Whether ``processes`` workers logged that the first key ended open mode (each checks
    in the background, with no request needed)."""
    return gateway.logs().count(OPEN_MODE_ENDED) >= processes


def test_two_workers_stay_closed_after_the_last_key_is_deleted(
    embedded: tuple[Deployment, GatewayProcess], fake: FakeUpstream
) -> None:
    site, gateway = embedded
    urls = [gateway.base_url]
    assert _statuses(urls) == {200: PROBES}  # never had a key: open on both workers
    key = created_key(site.cli.run("keys", "create", "first", "--json"))
    try:
        # one keyed call on one connection (one worker); the other worker sees no request
        with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key.secret, max_retries=0) as sdk:
            sdk.chat.completions.create(model="open-model", messages=[{"role": "user", "content": "keyed"}])
        wait_until(lambda: _noticed(gateway, 2), what="both workers notice the first key")
        site.cli.run("keys", "delete", "first")
        seen = _stays_closed(urls)
        assert set(seen) == {401}, seen
        assert _status(gateway.base_url, key.secret) == 401  # the deleted key itself
        with pytest.raises(openai.AuthenticationError):
            with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="sk-anything", max_retries=0) as sdk:
                sdk.chat.completions.create(model="open-model", messages=[{"role": "user", "content": "hi"}])
    finally:
        delete_rate_limits([key.id])


def test_replicas_stay_closed_after_the_last_key_is_deleted(tmp_path: Path, fake: FakeUpstream) -> None:
    with fresh_database() as database_url:
        # the spellings a hosting provider hands out (``postgresql+asyncpg://`` is the fixture's)
        plain = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        pasted = database_url.replace("postgresql+asyncpg://", "postgres://", 1) + "?sslmode=disable"
        env = {
            "TURNOUT_DATABASE_URL": plain,
            "TURNOUT_REDIS_URL": REDIS_URL,
            "TURNOUT_SECRET_KEY": "e2e-keys-open-mode-hmac-key-0123456789",
        }
        site = deployment(tmp_path, POLICY.format(base=fake.base_url), env)
        upgrade = TurnoutCli({**env, "TURNOUT_DATABASE_URL": pasted}, site.root, site.data_dir)
        assert "current" in upgrade.run("db", "upgrade").lower()
        # a gateway gets SIGTERM when the thread that started it ends: the pool outlives them
        pool = ThreadPoolExecutor(2)
        a, b = pool.map(site.start, ("replica-a", "replica-b"))
        admin_a, admin_b = Admin(a.base_url, ADMIN_TOKEN), Admin(b.base_url, ADMIN_TOKEN)
        late: GatewayProcess | None = None
        key_ids: list[str] = []
        try:
            urls = [a.base_url, b.base_url]
            assert _statuses(urls) == {200: PROBES}  # a fresh store: open on both replicas
            key = admin_a.create_key("first")
            key_ids.append(key.id)
            wait_until(lambda: _noticed(a, 1) and _noticed(b, 1), what="both replicas notice the first key")
            assert _statuses(urls) == {401: PROBES}
            assert _status(b.base_url, key.secret) == 200
            assert admin_b.delete_key(key.id)["id"] == key.id
            seen = _stays_closed(urls)
            assert set(seen) == {401}, seen
            late = pool.submit(site.start, "replica-c").result()
            assert _statuses([late.base_url]) == {401: PROBES}  # started on a store that had a key
            assert "every API key was deleted" in late.logs()
        finally:
            admin_a.close()
            admin_b.close()
            for gateway in (a, b, late):
                if gateway is not None:
                    gateway.stop()
            pool.shutdown()
            delete_rate_limits(key_ids)
