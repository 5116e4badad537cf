"""Broken policies, golden: each case in tests/fixtures/policies/<case>/ is checked with
``run_check`` and its exit code and output lines are pinned in a snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from engine.policy.check import run_check

CASES = Path(__file__).parent.parent / "fixtures" / "policies"
ENV = {"SET_KEY": "set-but-never-shown"}


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_golden_case(case: str, snapshot: SnapshotAssertion) -> None:
    code, lines = run_check(CASES / case, ENV)
    assert (code, lines) == snapshot
    assert code == (0 if lines[-1].startswith("ok: ") else 1)


def test_every_case_is_one_broken_policy() -> None:
    codes = {case.name: run_check(case, ENV)[0] for case in CASES.iterdir() if case.is_dir()}
    assert len(codes) >= 15
    assert [name for name, code in codes.items() if code == 0] == ["unset-secret"]


def test_secrets_are_never_echoed() -> None:
    for case in CASES.iterdir():
        _, lines = run_check(case, ENV)
        text = "\n".join(lines)
        assert "NEVER-BE-PRINTED" not in text
        assert "set-but-never-shown" not in text


def test_errors_come_with_file_line_and_key_path() -> None:
    _, lines = run_check(CASES / "cel-errors", ENV)
    assert lines[1] == (
        "policy.toml:13: aliases.auto.rules.1.when: CEL 1:26: "
        "found no matching overload for '_>_' applied to '(int, double)'"
    )
    _, lines = run_check(CASES / "duplicate-across-files", ENV)
    assert lines[0] == ("more/extra.toml:2: channels.demo: defined twice: in channels.toml:1 and in more/extra.toml:2")
    assert lines[-1] == "error: 2 problems"


def test_warnings_only_is_a_pass() -> None:
    code, lines = run_check(CASES / "unset-secret", ENV)
    assert code == 0
    assert lines[0] == (
        "policy.toml:9: channels.openai.api_key: warning: OPENAI_API_KEY is not set: the channel is disabled"
    )
    assert lines[-1].startswith("ok: 3 channels (2 skipped), 2 models, 2 aliases, version ")
