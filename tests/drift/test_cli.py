"""``turnout drift`` from the command line: the usage log of the configured data directory,
the policy `turnout serve` would use, formats, exit codes and one-line errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.cli import main
from engine.state.state import open_state
from tests.drift.builders import AT, policy, week


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory whose usage log holds ``week()``, moved to end now."""
    shift = datetime.now(UTC) - AT
    records = [r._replace(at=r.at + shift) for r in week(policy(tmp_path).version)]

    async def record() -> None:
        state = await open_state(data_dir=tmp_path / "data", database_url=None, redis_url=None, secret_key="s" * 32)
        state.gate.record(records)
        await state.close()

    asyncio.run(record())
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["drift", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_drift_reads_the_configured_usage_log_and_the_serving_policy(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TURNOUT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TURNOUT_POLICY_DIR", str(tmp_path / "policies"))
    code, out, err = run(capsys, "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["requests"], data["flagged"], data["policy"]["directory"]) == (27, 6, str(tmp_path / "policies"))
    code, out, _ = run(capsys, "--since", "4d", "--format", "json")  # only the last 3 requests, 3 days ago
    assert json.loads(out)["requests"] == 3
    code, out, _ = run(capsys, "--policy", str(tmp_path / "policies"), "--format", "markdown")
    assert code == 0 and out.startswith("### Turnout drift: ")
    code, out, _ = run(capsys)
    assert code == 0 and out.startswith(f"drift of {tmp_path / 'policies'} (policy ")


def test_fail_on_drift_exits_3_with_the_report_and_0_when_nothing_is_flagged(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TURNOUT_DATA_DIR", str(data_dir))
    policies = str(tmp_path / "policies")
    code, out, _ = run(capsys, "--policy", policies, "--fail-on-drift")
    assert code == 3 and "flagged: 6" in out
    code, out, _ = run(capsys, "--policy", policies, "--fail-on-drift", "--since", "30m")  # an empty window
    assert code == 0 and "flagged: 0" in out


def test_thresholds_come_from_the_options(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TURNOUT_DATA_DIR", str(data_dir))
    argv = ["--policy", str(tmp_path / "policies"), "--format", "json", "--min-attempts", "21"]
    code, out, _ = run(capsys, *argv, "--failover-share", "50%", "--cost-tolerance", "0.8")
    data = json.loads(out)
    assert data["thresholds"] == {"min_attempts": 21, "failover_share": 0.5, "cost_tolerance": 0.8}
    assert data["flagged"] == 4  # the rule and the idle alias, model and channel
    with pytest.raises(SystemExit) as exited:
        main(["drift", "--failover-share", "1.5"])
    assert exited.value.code == 2 and "a share is between 0 and 1" in capsys.readouterr().err


def test_errors_are_one_line_and_exit_1(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = str(tmp_path / "policies")
    monkeypatch.setenv("TURNOUT_DATA_DIR", str(data_dir))
    cases = [
        (["--policy", str(tmp_path / "nope")], "no policy directory at"),
        (["--policy", policies, "--since", "soon"], "error: not a date or time: 'soon'"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert (code, out) == (1, ""), argv
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    monkeypatch.setenv("TURNOUT_DATA_DIR", str(tmp_path / "no-data"))
    code, out, err = run(capsys, "--policy", policies)
    assert (code, out) == (1, "") and err.startswith("error: no usage log: the embedded database ")
    assert err.count("\n") == 1 and not (tmp_path / "no-data").exists()


def test_the_command_is_listed_without_importing_it() -> None:
    script = (
        "import sys; from engine.cli import build_parser; "
        "build_parser().parse_args(['drift']); print('engine.drift.commands' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    listed = subprocess.run([sys.executable, "-m", "engine", "--help"], capture_output=True, text=True, check=True)
    assert "drift" in listed.stdout
