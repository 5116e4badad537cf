"""``turnout replay``, ``turnout diff`` and ``turnout usage export`` from the command line:
reading the usage log (``--since``) and exports (``--from``), git revisions, exit codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.access import UsageRecord
from engine.cli import main
from engine.replay.export import write_export
from engine.state.state import open_state
from tests.replay.builders import BASE_POLICY, routing_record
from tests.replay.test_report import CANDIDATE, traffic
from tests.support.policy_files import write_policy


@pytest.fixture
def candidate_dir(tmp_path: Path) -> Path:
    write_policy(tmp_path / "candidate", CANDIDATE)
    return tmp_path / "candidate"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "traffic.jsonl"
    with path.open("wb") as handle:
        write_export(traffic(), handle)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_from_an_export(candidate_dir: Path, export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "replay", "--policy", str(candidate_dir), "--from", str(export), "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["requests"], data["changed"], data["became_refused"]) == (7, 1, 2)
    assert data["after"].startswith(f"{candidate_dir} (policy ")
    code, out, _ = run(capsys, "replay", "--policy", str(candidate_dir), "--from", str(export), "--format", "markdown")
    assert code == 0 and out.startswith("### Turnout replay: `recorded traffic`")
    code, out, _ = run(capsys, "replay", "--policy", str(candidate_dir), "--from", str(export))
    assert code == 0 and out.startswith("replay of 7 recorded requests")


def test_fail_on_refusal_exits_3_with_the_report(
    candidate_dir: Path, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "replay", "--policy", str(candidate_dir), "--from", str(export), "--fail-on-refusal")
    assert code == 3 and "would be refused:" in out


def test_replay_errors_are_one_line_and_exit_1(
    tmp_path: Path,
    candidate_dir: Path,
    export: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TURNOUT_DATA_DIR", str(tmp_path / "no-data"))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(export.read_bytes().splitlines()[0] + b"\n{oops\n")
    broken = tmp_path / "broken"
    write_policy(broken, BASE_POLICY.replace('candidates = ["cheap"]\n', 'candidates = ["nowhere"]\n', 1))
    cases = [
        (["--policy", str(candidate_dir), "--from", str(bad)], f"error: {bad}:2: not JSON"),
        (["--policy", str(candidate_dir), "--from", str(tmp_path / "missing")], "error: cannot read"),
        (["--policy", str(tmp_path / "nope"), "--from", str(export)], "no policy directory at"),
        (["--policy", str(broken), "--from", str(export)], "the policy has errors"),
        (["--policy", str(candidate_dir), "--since", "1h"], "error: no usage log"),
        (["--policy", str(candidate_dir), "--since", "soon"], "error: not a date or time: 'soon'"),
        (["--policy", str(candidate_dir), "--from", str(export), "--until", "2026-01-01"], "--until applies to"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, "replay", *argv)
        assert (code, out) == (1, ""), argv
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_since_and_from_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["replay", "--policy", "p", "--since", "1h", "--from", "f"])
    assert exited.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def _usage(request_id: str, at: datetime, *, routing: bool = True, attempt: int | None = None) -> UsageRecord:
    return UsageRecord(
        request_id, attempt, at, "acct", "k1", "/v1/chat/completions", "auto", "auto#1", "big", "main", 200, None,
        12.0, 3.0, 1000, 300, 400, 0, 0.0028, "v1", False, False, 0.0,
        routing_record(planned_at=at) if routing and attempt is None else None,
    )  # fmt: skip


def test_replay_since_reads_the_usage_log_and_export_writes_it(
    tmp_path: Path, candidate_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)

    async def record() -> None:
        state = await open_state(data_dir=tmp_path / "data", database_url=None, redis_url=None, secret_key="s" * 32)
        state.gate.record(
            [
                _usage("recent", now - timedelta(minutes=5)),
                _usage("recent", now - timedelta(minutes=5), attempt=1),
                _usage("old", now - timedelta(days=3)),
                _usage("no-facts", now - timedelta(minutes=1), routing=False),
            ]
        )
        await state.close()

    asyncio.run(record())
    monkeypatch.setenv("TURNOUT_DATA_DIR", str(tmp_path / "data"))
    code, out, err = run(capsys, "replay", "--policy", str(candidate_dir), "--since", "1h", "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["requests"] == 1 and data["changed"] == 0
    assert "1 request rows in the window carry no routing facts (older rows) and were skipped" in data["notes"]
    # research key, big: 600 x $1 + 400 x $0.5 + 300 x $2 = 1400, x1.5 in the candidate
    assert data["cost"] == {"before_micros": 2800, "after_micros": 2100, "difference_micros": -700, "unpriced_after": 0}
    code, out, _ = run(capsys, "replay", "--policy", str(candidate_dir), "--since", "7d", "--format", "json")
    assert json.loads(out)["requests"] == 2

    exported = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "usage", "export", "--since", "1h", "-o", str(exported))
    assert code == 0 and err == "exported 1 recorded requests (1 without facts skipped)\n"
    line = json.loads(exported.read_text())
    assert line["request_id"] == "recent" and line["headers"] == {"x-team": "search"} and line["cost_micros"] == 2800


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits of ``deploy/policies``: the base policy, then the candidate."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "ci@example.test")
    _git(root, "config", "user.name", "CI")
    write_policy(root / "deploy" / "policies", BASE_POLICY)
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "base")
    write_policy(root / "deploy" / "policies", CANDIDATE)
    _git(root, "commit", "-qam", "candidate")
    return root


def test_diff_replays_two_revisions_without_touching_the_work_tree(
    repo: Path, export: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work_copy = repo / "deploy" / "policies" / "policy.toml"
    work_copy.write_text("this uncommitted edit is not a policy\n")
    monkeypatch.chdir(repo / "deploy")
    argv = ["diff", "HEAD~1", "HEAD", "--policy-path", "policies", "--from", str(export), "--format", "json"]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    data = json.loads(out)
    short_a, short_b = _git(repo, "rev-parse", "--short", "HEAD~1"), _git(repo, "rev-parse", "--short", "HEAD")
    assert (data["before"], data["after"]) == (f"HEAD~1 ({short_a})", f"HEAD ({short_b})")
    # both sides re-planned: r4 (x-team search) moves to cheap, "fast" is retired
    assert (data["requests"], data["changed"], data["became_refused"]) == (7, 1, 2)
    assert work_copy.read_text() == "this uncommitted edit is not a policy\n"
    assert _git(repo, "status", "--porcelain") == "M deploy/policies/policy.toml"

    code, out, _ = run(capsys, "diff", "main", "main", "--policy-path", "policies", "--from", str(export))
    assert code == 0 and "route changes: 0 (0.0%)" in out and "both revisions hold the same policy" in out


def test_diff_errors(
    repo: Path, export: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    cases = [
        (["nope", "HEAD"], "error: 'nope' is not a commit in this repository"),
        (["HEAD~1", "HEAD", "--policy-path", "elsewhere"], "error: 'elsewhere' does not exist at HEAD~1"),
    ]
    for extra, message in cases:
        code, out, err = run(capsys, "diff", *extra, "--from", str(export))
        assert (code, out) == (1, "") and err.startswith(message), err
    monkeypatch.chdir(repo.parent)  # not a repository
    code, _, err = run(capsys, "diff", "HEAD~1", "HEAD", "--from", str(export))
    assert code == 1 and "is not a commit" in err
