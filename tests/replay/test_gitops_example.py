"""examples/gitops: the pre-commit hook refuses a staged policy that fails check, the CI
workflow's turnout commands parse, and the README's replay of its sample traffic holds."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import build_parser, main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, check=False)


def test_the_pre_commit_hook_checks_what_is_staged(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE / "policies", repo / "policies")
    assert _git(repo, "init", "-q", "-b", "main").returncode == 0
    _git(repo, "config", "user.email", "ci@example.test")
    _git(repo, "config", "user.name", "CI")
    hook = repo / ".git" / "hooks" / "pre-commit"
    shutil.copy(EXAMPLE / "hooks" / "pre-commit", hook)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    policy = repo / "policies" / "policy.toml"
    good = policy.read_text()

    _git(repo, "add", ".")
    assert _git(repo, "commit", "-qm", "policy", env=env).returncode == 0

    policy.write_text(good.replace('candidates = ["cheap-echo"]', 'candidates = ["missing-echo"]'))
    _git(repo, "add", ".")
    policy.write_text(good)  # the work tree is fine again, the index is not
    refused = _git(repo, "commit", "-qm", "broken", env=env)
    assert refused.returncode != 0
    assert "missing-echo" in refused.stdout + refused.stderr
    assert "the staged policy fails 'turnout check' (commit refused)" in refused.stderr

    _git(repo, "add", ".")  # nothing left to commit in policies: the index equals HEAD again
    (repo / "notes.md").write_text("unrelated\n")
    _git(repo, "add", "notes.md")
    assert _git(repo, "commit", "-qm", "notes", env=env).returncode == 0


def _turnout_commands(workflow: str) -> list[list[str]]:
    joined = workflow.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        text = line.strip().removeprefix("run:").strip()
        if text.startswith("turnout "):
            text = re.sub(r"\$\{\{[^}]*\}\}", "X", text).split(">", 1)[0]
            commands.append(shlex.split(text)[1:])
    return commands


def test_the_workflow_runs_check_test_and_diff_with_options_that_exist() -> None:
    workflow = (EXAMPLE / ".github" / "workflows" / "turnout-policy.yml").read_text()
    commands = _turnout_commands(workflow)
    assert [c[0] for c in commands] == ["check", "test", "usage", "diff"]
    parser = build_parser()
    known = {name for a in parser._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices}
    for argv in commands:
        if argv[0] in known:  # `turnout test` comes with the policy-tests feature
            parser.parse_args(argv)
    assert "--fail-on-refusal" in commands[-1] and "--format" in commands[-1]
    assert "pull_request:" in workflow and "gh pr comment" in workflow and "fetch-depth: 0" in workflow


def test_the_readme_replay_shows_the_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (EXAMPLE / "README.md").read_text()
    assert "turnout replay --policy /tmp/candidate --from examples/gitops/traffic.jsonl" in readme
    candidate = tmp_path / "candidate"
    shutil.copytree(EXAMPLE / "policies", candidate)
    text = (candidate / "policy.toml").read_text()
    (candidate / "policy.toml").write_text(text.replace('use = ["tools-echo"]', 'use = ["long-echo"]'))
    capsys.readouterr()
    assert (
        main(["replay", "--policy", str(candidate), "--from", str(EXAMPLE / "traffic.jsonl"), "--format", "json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    tools = next(m for m in data["requested"][0]["models"] if m["model"] == "tools-echo")
    assert (data["requests"], data["changed"], tools["before"], tools["after"]) == (40, 10, 10, 0)
    assert data["cost"]["difference_micros"] < 0  # long-echo is cheaper than tools-echo
    assert main(["replay", "--policy", str(EXAMPLE / "policies"), "--from", str(EXAMPLE / "traffic.jsonl")]) == 0
    assert "route changes: 0 (0.0%)" in capsys.readouterr().out  # the sample was recorded on this policy


def test_the_readme_canary_rollout_replays_through_the_candidate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (EXAMPLE / "README.md").read_text()
    block = readme.split("cp -r examples/gitops/policies /tmp/rollout", 1)[1].split("```", 1)[0]
    script = "cp -r examples/gitops/policies /tmp/rollout" + block
    lines = [line for line in script.strip().splitlines() if not line.startswith("turnout ")]
    rollout = tmp_path / "rollout"
    shell = "\n".join(lines).replace("/tmp/rollout", str(rollout)).replace("examples/gitops", str(EXAMPLE))
    subprocess.run(["bash", "-euc", shell], check=True)
    assert main(["check", str(rollout)]) == 0
    assert "; canary version " in capsys.readouterr().out
    traffic = str(EXAMPLE / "traffic.jsonl")
    assert main(["replay", "--policy", str(rollout), "--canary", "--from", traffic, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["requests"], data["changed"]) == (40, 10)
    assert main(["replay", "--policy", str(rollout), "--from", traffic, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == 0  # the stable side is unchanged
