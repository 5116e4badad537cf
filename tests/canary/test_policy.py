"""``[canary]`` at load time: the candidate is the stable policy with ``canary/``'s files in
place of the same-named ones, and every mistake fails the load naming file, line and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.policy.check import run_check
from engine.policy.load import load_policy
from engine.policy.store import PolicyStore
from engine.policy_tests.suite import run_suite
from tests.support.policy_files import write_policy

ENV = {"CANARY_TEST_KEY": "sk-test"}
CHANNELS = """
[channels.steady]
format = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key = "${CANARY_TEST_KEY}"
models = ["model-a", "model-b"]

[models.model-a]
[models.model-b]

[groups.beta]
"""
ALIASES = """
[aliases.chat]
candidates = ["model-a"]
"""
CANDIDATE = """
[aliases.chat]
candidates = ["model-b"]
"""
CANARY = """
[canary]
percent = 5
groups = ["beta"]
header = "X-Turnout-Canary"
rollback = "canary.requests >= 20 && canary.p95_latency_ms > 2.0 * stable.p95_latency_ms"
window = "1h"
check_every = "2s"
"""


def _write(directory: Path, canary: str = CANARY, candidate: str | None = CANDIDATE) -> Path:
    write_policy(directory, CHANNELS, "channels.toml")
    write_policy(directory, ALIASES, "aliases.toml")
    write_policy(directory, canary, "canary.toml")
    if candidate is not None:
        write_policy(directory / "canary", candidate, "aliases.toml")
    return directory


def _errors(directory: Path) -> list[str]:
    loaded = load_policy(directory, ENV)
    assert loaded.policy is None
    return [str(d) for d in loaded.errors]


def test_the_candidate_replaces_same_named_files_and_keeps_the_rest(tmp_path: Path) -> None:
    loaded = load_policy(_write(tmp_path), ENV)
    assert loaded.policy is not None, loaded.diagnostics
    stable, spec = loaded.policy, loaded.policy.canary
    assert spec is not None
    assert stable.aliases["chat"].candidates == ("model-a",)
    assert spec.policy.aliases["chat"].candidates == ("model-b",)
    assert set(spec.policy.channels) == {"steady"}  # channels.toml comes from the stable policy
    assert spec.policy.canary is None and spec.version != stable.version
    assert (spec.percent, spec.groups, spec.header, spec.window, spec.check_every) == (
        5.0, frozenset({"beta"}), "x-turnout-canary", 3600.0, 2.0,
    )  # fmt: skip


def test_the_stable_version_ignores_the_candidate_and_a_reload_swaps_on_either(tmp_path: Path) -> None:
    directory = _write(tmp_path)
    store = PolicyStore(directory, ENV)
    stable, canary = store.current.served_versions
    write_policy(directory / "canary", CANDIDATE + "\nstrategy = 'weighted'\n", "aliases.toml")
    outcome = store.reload()
    assert outcome.swapped
    assert store.current.version == stable and store.current.served_versions[1] not in (None, canary)


def test_check_names_the_canary_and_its_share(tmp_path: Path) -> None:
    code, lines = run_check(_write(tmp_path), ENV)
    assert code == 0
    canary = load_policy(tmp_path, ENV).policy.canary.version  # type: ignore[union-attr]
    assert lines[-1].endswith(f"; canary version {canary} (5% by conversation; groups beta; header x-turnout-canary)")


def test_a_canary_table_without_candidate_files_fails_the_load(tmp_path: Path) -> None:
    errors = _errors(_write(tmp_path, candidate=None))
    assert errors == [
        "canary.toml:2: canary: no candidate: put the files that change under canary/ "
        "(each replaces the stable file of the same name)"
    ]


def test_a_broken_rollback_condition_is_named_with_its_line(tmp_path: Path) -> None:
    errors = _errors(_write(tmp_path, CANARY.replace("stable.p95_latency_ms", "stable.p99")))
    assert errors == [
        "canary.toml:6: canary.rollback: CEL 1:62: stable has no field 'p99' (fields: cost_per_request, "
        "error_rate, errors, fallback_rate, fallbacks, p50_latency_ms, p95_latency_ms, requests)"
    ]
    not_bool = _errors(_write(tmp_path, '[canary]\nrollback = "canary.error_rate * 2.0"\n'))
    assert len(not_bool) == 1 and "must be a bool expression" in not_bool[0], not_bool


def test_unknown_groups_keys_and_bad_values_are_errors(tmp_path: Path) -> None:
    table = '[canary]\npercent = 150\ngroups = ["gamma"]\nheader = "authorization"\nwindow = "soon"\ncolour = 1\n'
    errors = _errors(_write(tmp_path, table))
    assert any("canary.percent" in e and "100" in e for e in errors), errors
    assert any("canary.colour" in e and "unknown key" in e for e in errors), errors
    table = '[canary]\ngroups = ["gamma"]\nheader = "authorization"\nwindow = "soon"\n'
    errors = _errors(_write(tmp_path, table))
    assert errors == [
        "canary.toml:2: canary.groups.0: unknown group 'gamma' (known: beta, default)",
        "canary.toml:3: canary.header: not a header name a request can choose its side with",
        'canary.toml:4: canary.window: expected a duration like "30s", "10m" or "1h"',
    ]


def test_a_broken_candidate_fails_the_load_and_says_it_is_the_candidate(tmp_path: Path) -> None:
    errors = _errors(_write(tmp_path, candidate='[aliases.chat]\ncandidates = ["model-z"]\n'))
    assert errors == [
        "canary/aliases.toml:2: aliases.chat.candidates.0: canary candidate: unknown model or alias 'model-z' "
        "(known: chat, model-a, model-b)"
    ]


def test_a_candidate_cannot_declare_its_own_canary(tmp_path: Path) -> None:
    directory = _write(tmp_path)
    write_policy(directory / "canary", "[canary]\npercent = 1\n", "canary.toml")
    assert _errors(directory) == ["canary/canary.toml:1: canary: canary candidate: cannot declare a canary of its own"]


def test_candidate_files_without_a_canary_table_are_a_warning(tmp_path: Path) -> None:
    directory = _write(tmp_path, canary="")
    loaded = load_policy(directory, ENV)
    assert loaded.policy is not None and loaded.policy.canary is None
    assert [str(d) for d in loaded.diagnostics] == [
        "canary/aliases.toml:1: canary: warning: not served: the policy has no [canary] table"
    ]


def test_tests_under_canary_run_against_the_candidate(tmp_path: Path) -> None:
    directory = _write(tmp_path)
    case = '[[tests]]\nname = "{name}"\nmodel = "chat"\nexpect.first = "{model}@steady"\n'
    write_policy(directory / "tests", case.format(name="stable keeps model-a", model="model-a"), "chat.toml")
    write_policy(directory / "canary" / "tests", case.format(name="candidate moves", model="model-b"), "chat.toml")
    outcome = run_suite(directory)
    assert outcome.files == ["tests/chat.toml", "canary/tests/chat.toml"]
    assert [(r.case.name, r.passed) for r in outcome.results] == [
        ("stable keeps model-a", True),
        ("candidate moves", True),
    ]
    write_policy(directory / "canary" / "tests", case.format(name="candidate moves", model="model-a"), "chat.toml")
    failed = run_suite(directory).failed
    assert [(r.case.name, r.case.file) for r in failed] == [("candidate moves", "canary/tests/chat.toml")]


def test_the_readmes_canary_table_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("# policies/canary.toml\n", 1)[1].split("```", 1)[0]
    loaded = load_policy(_write(tmp_path, table), ENV)
    assert loaded.policy is not None and loaded.policy.canary is not None, loaded.diagnostics
    assert (loaded.policy.canary.percent, loaded.policy.canary.header) == (10.0, "x-turnout-canary")


def test_explain_routes_on_the_candidate_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _write(tmp_path / "policy")
    request = tmp_path / "request.json"
    request.write_text('{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}')
    monkeypatch.setenv("CANARY_TEST_KEY", "sk-test")
    assert main(["explain", str(request), "--policies", str(directory), "--json"]) == 0
    stable = json.loads(capsys.readouterr().out)
    assert main(["explain", str(request), "--policies", str(directory), "--json", "--canary"]) == 0
    candidate = json.loads(capsys.readouterr().out)
    assert stable["attempts"][0]["model"] == "model-a" and candidate["attempts"][0]["model"] == "model-b"
    assert candidate["policy_version"] != stable["policy_version"]
