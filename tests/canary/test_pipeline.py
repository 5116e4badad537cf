"""A canary in the request path, in process through the real app (lifespan, SQLite state,
real fake upstreams): the split picks the candidate, the response and every usage row name
the version that served, a canary failure before the first byte is answered by the stable
policy, and once rolled back the canary takes no more traffic."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.http.app import build_app
from engine.http.data_plane import DataPlane
from engine.settings import Settings
from tests.e2e_keys.waiting import wait_until
from tests.support.fake_upstream import FakeUpstream
from tests.support.policy_files import write_policy
from tests.support.replies import Status

POLICY = """
[channels.steady]
format = "openai"
base_url = "{steady}"
api_key = "${{CANARY_FAKE_KEY}}"
models = {{ "model-a" = "upstream-a" }}

[channels.fresh]
format = "openai"
base_url = "{fresh}"
api_key = "${{CANARY_FAKE_KEY}}"
models = {{ "model-b" = "upstream-b" }}

[models.model-a]
price = {{ input = 1.0, output = 1.0 }}

[models.model-b]
price = {{ input = 1.0, output = 1.0 }}

[retry]
attempts = 1

[canary]
header = "x-turnout-canary"
groups = []
rollback = "canary.requests >= 3 && canary.error_rate > 0.5"
check_every = "1h"
"""
STABLE_ALIASES = """
[aliases.chat]
candidates = ["model-a"]

[aliases.legacy]
candidates = ["model-a"]
"""
CANARY_ALIASES = """
[aliases.chat]
candidates = ["model-b"]

[aliases.fresh-only]
candidates = ["model-b"]
"""  # and no "legacy": the candidate dropped it; "fresh-only" is new


GROUPS = """
[groups.default]

[groups.beta]
models = ["chat"]
"""  # the candidate lets beta call fresh-only too
ADMIN_TOKEN = "canary-admin-token"


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream() as steady, FakeUpstream() as fresh:
        yield steady, fresh


class Gateway:
    def __init__(self, app: DataPlane, client: httpx.AsyncClient, db: Path) -> None:
        self.app, self.client, self.db = app, client, db

    async def chat(self, model: str = "chat", *, canary: str | None = "canary", text: str = "hi") -> httpx.Response:
        headers = {"x-turnout-canary": canary} if canary else {}
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
        return await self.client.post("/v1/chat/completions", json=body, headers=headers)

    def rows(self, request_id: str) -> list[dict[str, Any]]:
        db = sqlite3.connect(self.db)
        db.row_factory = sqlite3.Row
        try:
            found = db.execute("SELECT * FROM usage_log WHERE request_id = ? ORDER BY id", (request_id,)).fetchall()
        finally:
            db.close()
        return [dict(r) for r in found]

    async def rows_of(self, request_id: str) -> list[dict[str, Any]]:
        def request_row() -> list[dict[str, Any]] | None:
            rows = self.rows(request_id)
            return rows if any(r["attempt"] is None for r in rows) else None

        return await asyncio.to_thread(wait_until, request_row, what=f"the usage rows of {request_id}")


@pytest.fixture
async def gateway(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Gateway]:
    steady, fresh = fakes
    steady.reset()
    fresh.reset()
    monkeypatch.setenv("CANARY_FAKE_KEY", "sk-fake")
    policy = tmp_path / "policy"
    write_policy(policy, POLICY.format(steady=steady.base_url, fresh=fresh.base_url), "policy.toml")
    write_policy(policy, STABLE_ALIASES, "aliases.toml")
    write_policy(policy / "canary", CANARY_ALIASES, "aliases.toml")
    write_policy(policy, GROUPS, "groups.toml")
    write_policy(policy / "canary", GROUPS.replace('["chat"]', '["chat", "fresh-only"]'), "groups.toml")
    settings = Settings(policy_dir=policy, watch=False, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN)
    app = build_app(settings)
    assert isinstance(app, DataPlane)
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield Gateway(app, client, tmp_path / "data" / "turnout.db")
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan


def _versions(gateway: Gateway) -> tuple[str, str]:
    policy = gateway.app.pipeline.store.current
    assert policy.canary is not None
    return policy.version, policy.canary.version


async def test_the_canary_serves_what_the_split_sends_it_and_says_so(
    gateway: Gateway, fakes: tuple[FakeUpstream, FakeUpstream]
) -> None:
    stable, canary = _versions(gateway)
    steady, fresh = fakes
    on_canary = await gateway.chat()
    assert on_canary.status_code == 200, on_canary.text
    assert on_canary.headers["x-turnout-policy"] == canary != stable
    assert on_canary.headers["x-turnout-canary"] == canary
    assert [r.model for r in fresh.requests] == ["upstream-b"]

    on_stable = await gateway.chat(canary="stable")
    assert on_stable.headers["x-turnout-policy"] == stable
    assert "x-turnout-canary" not in on_stable.headers
    assert [r.model for r in steady.requests] == ["upstream-a"]

    served = await gateway.rows_of(on_canary.headers["x-request-id"])
    assert [(r["attempt"], r["policy_version"], r["canary_version"]) for r in served] == [
        (None, canary, canary),
        (1, canary, canary),
    ]
    plain = await gateway.rows_of(on_stable.headers["x-request-id"])
    assert {(r["policy_version"], r["canary_version"]) for r in plain} == {(stable, None)}


async def test_a_canary_failing_before_the_first_byte_is_answered_by_the_stable_policy(
    gateway: Gateway, fakes: tuple[FakeUpstream, FakeUpstream]
) -> None:
    stable, canary = _versions(gateway)
    steady, fresh = fakes
    fresh.always("upstream-b", Status(503))
    reply = await gateway.chat(text="rescue me")
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]
    assert reply.headers["x-turnout-policy"] == stable
    assert reply.headers["x-turnout-canary"] == f"{canary} rescued"
    assert [r.model for r in fresh.requests] == ["upstream-b"] and [r.model for r in steady.requests] == ["upstream-a"]
    rows = await gateway.rows_of(reply.headers["x-request-id"])
    by_attempt = {r["attempt"]: r for r in rows}
    assert sorted(by_attempt, key=lambda a: -1 if a is None else a) == [None, 1, 2]
    assert (by_attempt[1]["policy_version"], by_attempt[1]["channel"], by_attempt[1]["status"]) == (
        canary, "fresh", 503,
    )  # fmt: skip
    assert (by_attempt[2]["policy_version"], by_attempt[2]["channel"]) == (stable, "steady")
    request_row = by_attempt[None]
    assert (request_row["policy_version"], request_row["canary_version"], request_row["status"]) == (
        stable, canary, 200,
    )  # fmt: skip


async def test_a_model_the_candidate_dropped_is_answered_by_the_stable_policy(gateway: Gateway) -> None:
    stable, canary = _versions(gateway)
    reply = await gateway.chat("legacy")
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-turnout-policy"] == stable
    assert reply.headers["x-turnout-canary"] == f"{canary} rescued"


async def test_once_rolled_back_the_canary_takes_no_more_traffic(
    gateway: Gateway, fakes: tuple[FakeUpstream, FakeUpstream]
) -> None:
    stable, canary = _versions(gateway)
    _, fresh = fakes
    fresh.always("upstream-b", Status(500))
    answers = [await gateway.chat(text=f"turn {i}") for i in range(3)]
    assert all(a.status_code == 200 for a in answers)
    for answer in answers:
        await gateway.rows_of(answer.headers["x-request-id"])
    monitor = gateway.app.pipeline.canaries
    assert monitor is not None
    evaluation = await monitor.check()
    assert evaluation is not None and evaluation.holds
    status = (await gateway.client.get("/api/status")).json()["canary"]
    assert status["version"] == canary and status["state"] == "rolled_back"
    assert "canary.error_rate > 0.5" in status["rolled_back"]["reason"]
    assert status["rolled_back"]["canary"]["errors"] == 3

    tried = len(fresh.requests)
    after = await gateway.chat(text="after the rollback")
    assert after.status_code == 200
    assert after.headers["x-turnout-policy"] == stable and "x-turnout-canary" not in after.headers
    assert len(fresh.requests) == tried

    metrics = (await gateway.client.get("/metrics")).text
    assert f'turnout_canary_requests_total{{outcome="rescued",version="{canary}"}} 3.0' in metrics
    assert f'turnout_canary_rolled_back{{version="{canary}"}} 1.0' in metrics
    # the canary's failed attempts count like any other, although the stable policy answered
    assert 'turnout_upstream_attempts_total{channel="fresh",model="model-b",outcome="server"} 3.0' in metrics


async def test_a_new_alias_only_the_candidate_has_fails_as_the_canary_failed(
    gateway: Gateway, fakes: tuple[FakeUpstream, FakeUpstream]
) -> None:
    stable, canary = _versions(gateway)
    _, fresh = fakes
    assert (await gateway.chat("fresh-only")).headers["x-turnout-policy"] == canary
    assert (await gateway.chat("fresh-only", canary="stable")).status_code == 404
    fresh.always("upstream-b", Status(503))
    failed = await gateway.chat("fresh-only")
    assert failed.status_code >= 500 and failed.json()["error"]["message"]
    assert failed.headers["x-turnout-policy"] == canary and failed.headers["x-turnout-canary"] == canary
    rows = await gateway.rows_of(failed.headers["x-request-id"])
    assert [(r["attempt"], r["policy_version"], r["canary_version"], r["status"] >= 500) for r in rows] == [
        (None, canary, canary, True),
        (1, canary, canary, True),
    ]


async def test_the_candidates_groups_decide_what_a_key_may_call_on_the_canary(gateway: Gateway) -> None:
    created = await gateway.client.post(
        "/admin/keys", json={"name": "beta-key", "group": "beta"}, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    stable, canary = _versions(gateway)
    body = {"model": "fresh-only", "messages": [{"role": "user", "content": "hi"}]}

    async def call(side: str) -> httpx.Response:
        headers = {"authorization": f"Bearer {secret}", "x-turnout-canary": side}
        return await gateway.client.post("/v1/chat/completions", json=body, headers=headers)

    on_canary = await call("canary")
    assert on_canary.status_code == 200, on_canary.text
    assert on_canary.headers["x-turnout-policy"] == canary
    on_stable = await call("stable")
    assert on_stable.status_code == 403 and on_stable.json()["error"]["code"] == "model_not_allowed"
    assert on_stable.headers["x-turnout-policy"] == stable
