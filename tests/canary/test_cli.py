"""``turnout canary status|reset`` against the embedded store the server writes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.canary.monitor import CanaryMonitor
from engine.cli import main
from engine.policy.load import load_policy
from tests.canary.test_monitor import ALIASES, CANDIDATE, STABLE_POLICY
from tests.state.conftest import SECRET_KEY, Backend, usage
from tests.support.policy_files import write_policy


async def test_status_and_reset(
    sqlite_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policy"
    write_policy(policies, STABLE_POLICY, "policy.toml")
    write_policy(policies, ALIASES, "aliases.toml")
    write_policy(policies / "canary", CANDIDATE, "aliases.toml")
    monkeypatch.setenv("CANARY_TEST_KEY", "sk-test")
    monkeypatch.setenv("TURNOUT_DATA_DIR", str(sqlite_backend.data_dir))
    monkeypatch.setenv("TURNOUT_SECRET_KEY", SECRET_KEY)
    policy = load_policy(policies, {"CANARY_TEST_KEY": "sk-test"}).policy
    assert policy is not None and policy.canary is not None
    canary = policy.canary.version
    now = datetime.now(UTC) - timedelta(seconds=5)
    state = await sqlite_backend.open()
    try:
        rows = [usage(f"r{i}", now, policy_version=policy.version, canary_version=canary) for i in range(4)]
        rows += [usage(f"s{i}", now, policy_version=policy.version, latency_ms=80.0) for i in range(6)]
        state.usage.record(rows)
        await state.usage.flush()
        await CanaryMonitor(lambda: policy, state.engine).check()
    finally:
        await state.close()

    assert await _run(["canary", "status", "--policies", str(policies), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["canary_version"], report["state"], report["holds_now"]) == (canary, "rolled_back", True)
    assert (report["canary"]["requests"], report["canary"]["error_rate"]) == (4, 1.0)
    assert (report["stable"]["requests"], report["stable"]["p95_latency_ms"]) == (6, 80.0)
    assert await _run(["canary", "status", "--policies", str(policies)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"canary {canary} beside stable {policy.version}: rolled back\n")
    assert "canary: 4 requests, error rate 100.0%" in text

    assert await _run(["canary", "reset", "--policies", str(policies)]) == 0
    assert capsys.readouterr().out == (
        f"canary {canary}: rollback forgotten; every worker serves it again within its check_every\n"
    )
    assert await _run(["canary", "reset", canary]) == 0
    assert "nothing to reset" in capsys.readouterr().out
    assert await _run(["canary", "status", "--policies", str(policies), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "serving"


async def _run(argv: list[str]) -> int:
    """The command in a thread: it runs its own event loop."""
    return await asyncio.to_thread(main, argv)
