"""The rollback decision through the shared store: statistics read from the usage log of
both sides, the condition evaluated, the decision stored once and learned by every other
worker or replica, on the embedded SQLite and on PostgreSQL."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.canary.monitor import CanaryMonitor, record_name
from engine.canary.window import window_stats
from engine.policy.compiled import CompiledPolicy
from engine.policy.load import load_policy
from engine.state import State
from engine.state.meta import delete_value
from tests.state.conftest import usage
from tests.support.policy_files import write_policy

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
STABLE_POLICY = """
[channels.steady]
format = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key = "${CANARY_TEST_KEY}"
models = ["model-a", "model-b"]

[models.model-a]
price = { input = 1.0, output = 1.0 }

[models.model-b]
price = { input = 1.0, output = 1.0 }

[canary]
percent = 10
rollback = "canary.requests >= 4 && canary.error_rate > stable.error_rate + 0.25"
window = "10m"
"""
ALIASES = """
[aliases.chat]
candidates = ["model-a"]
"""
CANDIDATE = """
[aliases.chat]
candidates = ["model-b"]
"""


def _policy(tmp_path: Path) -> CompiledPolicy:
    write_policy(tmp_path / "policy", STABLE_POLICY, "policy.toml")
    write_policy(tmp_path / "policy", ALIASES, "aliases.toml")
    write_policy(tmp_path / "policy" / "canary", CANDIDATE, "aliases.toml")  # in place of aliases.toml
    loaded = load_policy(tmp_path / "policy", {"CANARY_TEST_KEY": "sk-test"})
    assert loaded.policy is not None and loaded.policy.canary is not None, loaded.diagnostics
    return loaded.policy


async def _write(state: State, *rows: object) -> None:
    state.usage.record(list(rows))  # type: ignore[arg-type]
    await state.usage.flush()


def _served(request_id: str, version: str, *, canary: str | None, status: int = 200, latency: float = 100.0,
            attempt: int | None = None, minutes_ago: float = 1) -> object:  # fmt: skip
    return usage(
        request_id, NOW - timedelta(minutes=minutes_ago), policy_version=version, canary_version=canary,
        status=status, latency_ms=latency, attempt=attempt,
    )  # fmt: skip


async def test_the_statistics_of_each_side_come_from_the_shared_usage_log(state: State, tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    stable, canary = policy.version, policy.canary.version  # type: ignore[union-attr]
    await _write(
        state,
        _served("s1", stable, canary=None, latency=100),
        _served("s2", stable, canary=None, latency=300, status=502),
        _served("s3", stable, canary=None, latency=200),
        _served("s3", stable, canary=None, attempt=1),
        _served("s3", stable, canary=None, attempt=2),  # s3 fell back
        _served("c1", canary, canary=canary, latency=900),
        _served("c2", stable, canary=canary, latency=1500),  # the canary failed it, the stable rescued it
        _served("c3", canary, canary=canary, status=499),  # the client hung up: not the canary's error
        _served("old", canary, canary=canary, status=500, minutes_ago=30),  # outside the window
        _served("other", "0ldversion00", canary=None, status=500),  # another stable version
    )
    on_canary, on_stable = await window_stats(state.engine, canary, stable, NOW - timedelta(minutes=10))
    assert (on_stable.requests, on_stable.errors, on_stable.fallbacks) == (3, 1, 1)
    assert (on_stable.p50_latency_ms, on_stable.p95_latency_ms) == (200.0, 300.0)
    assert (on_canary.requests, on_canary.errors, on_canary.fallbacks) == (3, 1, 0)
    assert on_canary.error_rate == pytest.approx(1 / 3)
    assert on_canary.p95_latency_ms == 1500.0


async def test_a_holding_condition_rolls_the_canary_back_once_for_every_worker(
    state: State, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy = _policy(tmp_path)
    spec = policy.canary
    assert spec is not None
    first = CanaryMonitor(lambda: policy, state.engine, clock=lambda: NOW)
    other = CanaryMonitor(lambda: policy, state.engine, clock=lambda: NOW)  # another worker or replica
    await _write(state, *(_served(f"c{i}", spec.version, canary=spec.version) for i in range(4)))
    evaluation = await first.check()
    assert evaluation is not None and not evaluation.holds  # four requests, no error
    assert first.serving(policy) is spec

    await _write(state, *(_served(f"r{i}", policy.version, canary=spec.version) for i in range(4)))  # rescued
    with caplog.at_level(logging.WARNING, logger="turnout.canary"):
        evaluation = await first.check()
    assert evaluation is not None and evaluation.holds
    assert first.serving(policy) is None
    rollback = first.rollback_of(spec.version)
    assert rollback is not None
    assert rollback.canary["requests"] == 8 and rollback.canary["error_rate"] == 0.5
    assert "canary.error_rate > stable.error_rate + 0.25" in rollback.reason
    assert f"canary {spec.version} rolled back" in caplog.text and "error rate 50.0%" in caplog.text

    assert other.serving(policy) is spec  # until it looks
    assert await other.check() is None  # it learns the stored decision without evaluating
    assert other.serving(policy) is None
    assert other.rollback_of(spec.version) == rollback
    status = other.status(policy)
    assert status is not None and status["state"] == "rolled_back"
    assert status["rolled_back"]["reason"] == rollback.reason


async def test_a_changed_candidate_is_a_new_canary(state: State, tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    spec = policy.canary
    assert spec is not None
    monitor = CanaryMonitor(lambda: policy, state.engine, clock=lambda: NOW)
    await _write(state, *(_served(f"r{i}", policy.version, canary=spec.version) for i in range(5)))
    await monitor.check()
    assert monitor.serving(policy) is None
    changed = replace(policy, canary=replace(spec, policy=replace(spec.policy, version="fixedversion")))
    assert monitor.serving(changed) is changed.canary


async def test_without_a_state_store_the_canary_serves_unmonitored(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    monitor = CanaryMonitor(lambda: policy, None)
    assert await monitor.check() is None
    assert monitor.serving(policy) is policy.canary
    status = monitor.status(policy)
    assert status is not None and status["state"] == "unmonitored"


async def test_a_reset_rollback_serves_the_canary_again_on_every_worker(state: State, tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    spec = policy.canary
    assert spec is not None
    now = [NOW]
    monitor = CanaryMonitor(lambda: policy, state.engine, clock=lambda: now[0])
    await _write(state, *(_served(f"r{i}", policy.version, canary=spec.version) for i in range(5)))
    await monitor.check()
    assert monitor.serving(policy) is None
    async with state.engine.begin() as conn:  # what `turnout canary reset` does
        assert await delete_value(conn, record_name(spec.version))
    now[0] = NOW + timedelta(minutes=11)  # the failures have left the window
    evaluation = await monitor.check()
    assert evaluation is not None and not evaluation.holds
    assert monitor.serving(policy) is spec
