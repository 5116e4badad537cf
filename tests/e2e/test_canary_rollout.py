"""A policy change from review to rollback, through the real server (two workers) and the
official SDK: recorded traffic, the change reviewed with ``turnout test`` and ``turnout diff``
on that traffic, then deployed as a canary under load while its upstream fails. The canary
rolls itself back; no client request fails (the stable policy answers what the canary
could not), and both workers stop sending it traffic."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from engine.cli import main
from tests.e2e.conftest import FAKE_KEY
from tests.e2e_keys.services import REDIS_URL
from tests.e2e_keys.waiting import wait_until
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import start_gateway
from tests.support.policy_files import write_policy
from tests.support.replies import Status

CHANNELS = """
[channels.steady]
format = "openai"
base_url = "{a}"
api_key = "${{FAKE_KEY}}"
models = {{ "model-a" = "upstream-a" }}

[channels.fresh]
format = "openai"
base_url = "{b}"
api_key = "${{FAKE_KEY}}"
models = {{ "model-b" = "upstream-b" }}

[models.model-a]
price = {{ input = 1.0, output = 2.0 }}

[models.model-b]
price = {{ input = 0.5, output = 1.0 }}

[retry]
attempts = 1

[breaker]
failures = 1000
cooldown = 0
"""
ALIASES = '[aliases.chat]\ncandidates = ["model-a"]\n'
STABLE_TEST = '[[tests]]\nname = "chat runs on model-a"\nmodel = "chat"\nexpect.first = "model-a@steady"\n'
# The change under review: chat moves to the cheaper model-b, first on half the conversations.
CANARY = """
[canary]
percent = 50
rollback = "canary.requests >= 8 && canary.error_rate > 0.5"
window = "5m"
check_every = "0.3s"
"""
CANDIDATE_ALIASES = '[aliases.chat]\ncandidates = ["model-b"]\n'
CANDIDATE_TEST = '[[tests]]\nname = "chat moves to model-b"\nmodel = "chat"\nexpect.first = "model-b@fresh"\n'
ROUND = 16  # requests at once
QUIET_ROUNDS = 3  # rounds in a row without canary traffic that end the load


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _commit(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=ci@example.test", "-c", "user.name=CI", "commit", "-qm", message)
    return _git(repo, "rev-parse", "--short", "HEAD")


def _rows(db_file: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(db_file)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


async def _round(client: openai.AsyncOpenAI, start: int) -> list[tuple[int, dict[str, str], str]]:
    async def one(i: int) -> tuple[int, dict[str, str], str]:
        raw = await client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": f"conversation {i}: hello"}]
        )
        answer = raw.parse().choices[0].message.content or ""
        return raw.status_code, dict(raw.headers), answer

    return list(await asyncio.gather(*(one(i) for i in range(start, start + ROUND))))


async def _load(base_url: str) -> list[tuple[int, dict[str, str], str]]:
    """Rounds of requests until the canary has had traffic and then none for a while."""
    answers: list[tuple[int, dict[str, str], str]] = []
    quiet = 0
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0) as client:
        for n in range(60):
            batch = await _round(client, n * ROUND)
            answers += batch
            touched = any("x-turnout-canary" in headers for _, headers, _ in batch)
            quiet = 0 if touched else quiet + 1
            if quiet >= QUIET_ROUNDS and any("x-turnout-canary" in h for _, h, _ in answers):
                break
    return answers


def test_a_reviewed_change_canaried_under_load_rolls_back_without_failing_a_request(
    fake_a: FakeUpstream,
    fake_b: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo, live = tmp_path / "repo", tmp_path / "live"
    policies = repo / "policies"
    write_policy(policies, CHANNELS.format(a=fake_a.base_url, b=fake_b.base_url), "channels.toml")
    write_policy(policies, ALIASES, "aliases.toml")
    write_policy(policies / "tests", STABLE_TEST, "chat.toml")
    _git(repo, "init", "-q", "-b", "main")
    stable_rev = _commit(repo, "stable policy")
    shutil.copytree(policies, live)  # what the gateway serves (as git-sync would deploy it)

    env = {"FAKE_KEY": FAKE_KEY, "TURNOUT_REDIS_URL": REDIS_URL}
    with start_gateway(live, env, workers=2, workdir=tmp_path / "work") as gateway:
        db_file = gateway.workdir / "data" / "turnout.db"
        # 1. Yesterday's traffic, recorded by the usage log.
        with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="unused", max_retries=0) as sdk:
            for i in range(20):
                sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": f"recorded {i}"}])
        wait_until(lambda: _rows(db_file, "SELECT count(*) FROM usage_log WHERE attempt IS NULL")[0][0] == 20,
                   what="the recorded traffic")  # fmt: skip

        # 2. The change, reviewed: its tests pass and the diff on recorded traffic shows the move.
        write_policy(policies, CANARY, "canary.toml")
        write_policy(policies / "canary", CANDIDATE_ALIASES, "aliases.toml")
        write_policy(policies / "canary" / "tests", CANDIDATE_TEST, "chat.toml")
        change_rev = _commit(repo, "canary: chat on model-b")
        monkeypatch.chdir(repo)
        monkeypatch.setenv("TURNOUT_DATA_DIR", str(gateway.workdir / "data"))
        capsys.readouterr()
        assert main(["test", "policies"]) == 0
        tested = capsys.readouterr().out
        assert "2 passed" in tested, tested
        assert main(["diff", stable_rev, change_rev, "--canary", "--since", "1h", "--format", "markdown"]) == 0
        review = capsys.readouterr().out
        assert "| 20 | chat | `model-a@steady` | `model-b@fresh` |" in review, review
        assert "$0.00012 -> $0.00006 (-$0.00006, -50.0%)" in review
        assert "(canary candidate)" in review

        # 3. Deployed: the canary takes half the conversations, and its upstream fails.
        shutil.copytree(policies, live, dirs_exist_ok=True)
        fake_b.always("upstream-b", Status(500))

        def canary_serving() -> str | None:
            found = httpx.get(f"{gateway.base_url}/api/status", timeout=5).json()["canary"]
            return found["version"] if found and found["state"] == "serving" else None

        canary = wait_until(canary_serving, timeout=10, what="the canary serving")
        for _ in range(6):  # the other worker too (the kernel spreads connections)
            wait_until(canary_serving, timeout=10, what="the canary serving on every worker")
        stable = httpx.get(f"{gateway.base_url}/api/status", timeout=5).json()["policy"]["version"]

        answers = asyncio.run(_load(gateway.base_url))

        # No client request failed: what the canary could not answer, the stable policy did.
        assert all(status == 200 and text for status, _, text in answers)
        assert {headers["x-turnout-policy"] for _, headers, _ in answers} == {stable}
        rescued = [h for _, h, _ in answers if h.get("x-turnout-canary") == f"{canary} rescued"]
        assert len(rescued) >= 8
        assert all(h.get("x-turnout-canary") in (None, f"{canary} rescued") for _, h, _ in answers)
        # Rolled back: the last rounds (both workers) sent the canary nothing.
        assert not any("x-turnout-canary" in h for _, h, _ in answers[-QUIET_ROUNDS * ROUND :])
        assert len(answers) < 60 * ROUND, "the canary never stopped taking traffic"

        for _ in range(4):
            status = httpx.get(f"{gateway.base_url}/api/status", timeout=5).json()["canary"]
            assert status["version"] == canary and status["state"] == "rolled_back"
            assert status["rolled_back"]["reason"].startswith("canary.requests >= 8 && canary.error_rate > 0.5 held")
            assert status["rolled_back"]["canary"]["error_rate"] > 0.5

        def rollback_logged() -> str | None:
            logs = gateway.logs()
            return logs if f"canary {canary} rolled back" in logs else None

        assert "error rate" in wait_until(rollback_logged, what="the rollback in the server log")

        # The usage log names the versions: rescued requests were sent to the canary and
        # served by the stable policy, after the canary's failed attempt.
        def rescued_rows() -> list[tuple[Any, ...]] | None:
            rows = _rows(db_file, "SELECT policy_version, status FROM usage_log WHERE attempt IS NULL AND "
                         "canary_version = ?", canary)  # fmt: skip
            return rows if len(rows) == len(rescued) else None

        assert set(wait_until(rescued_rows, what="the rescued requests' rows")) == {(stable, 200)}
        attempts = _rows(db_file, "SELECT DISTINCT policy_version, channel, status FROM usage_log "
                         "WHERE attempt = 1 AND canary_version = ?", canary)  # fmt: skip
        assert attempts == [(canary, "fresh", 500)]
        assert len(fake_b.requests) == len(rescued)
