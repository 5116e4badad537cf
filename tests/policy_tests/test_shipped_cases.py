"""The shipped policy (policies/) and every example's policy carry policy tests, and they
pass through ``turnout test``; a change to what a policy's comments promise fails them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.policy.sources import find_test_files

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = ROOT / "examples"
SCENARIOS = sorted(p.name for p in EXAMPLES.iterdir() if (p / "policies").is_dir())  # examples/deploy has none
POLICIES = [ROOT / "policies", *(EXAMPLES / name / "policies" for name in SCENARIOS)]


def test_every_example_policy_is_covered() -> None:
    assert len(SCENARIOS) >= 3


@pytest.mark.parametrize("directory", POLICIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_policy_has_tests_that_pass(directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert find_test_files(directory), f"{directory} has no policy tests"
    code = main(["test", str(directory)])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = out.splitlines()[-1].strip("= ")
    assert summary.endswith(" passed") and "failed" not in summary
    assert int(summary.split()[0]) >= 4


def test_they_pin_behaviour(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy)
    aliases = copy / "aliases.toml"
    text = aliases.read_text()
    assert text.count('strategy = "cheapest"') == 1
    aliases.write_text(text.replace('strategy = "cheapest"', 'strategy = "priority"'))
    assert main(["test", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "tests/aliases.toml:9: auto tries the cheapest candidate first, demo-echo last" in out
    assert (
        "  attempts: expected deepseek-v3@deepseek, gpt-4.1-mini@openai, gemini-2.5-flash@gemini, gpt-5.5@openai, "
        in out
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_example_readme_shows_its_tests(scenario: str) -> None:
    assert f"turnout test examples/{scenario}/policies" in (EXAMPLES / scenario / "README.md").read_text()
