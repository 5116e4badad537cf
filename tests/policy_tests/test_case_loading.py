"""Loading policy tests: which files are tests, and every problem a case can have, with
its file, line and key path (exact messages)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.policy.compiled import CompiledPolicy
from engine.policy.load import load_policy
from engine.policy.sources import find_files, find_test_files, is_test_file
from engine.policy_tests.request import case_facts
from engine.policy_tests.schema import CaseRaw
from engine.policy_tests.suite import EXIT_LOAD_ERROR, EXIT_NO_TESTS, EXIT_PASSED, run_suite
from providers.openai.codec import OpenAIChatCodec
from tests.policy_tests.helpers import policy_dir

GOOD = """
[[tests]]
name = "tools go to big-m"
model = "pick"
tools = true
expect.rule = 1
"""


@pytest.mark.parametrize(
    ("name", "is_test"),
    [
        ("policy.toml", False),
        ("team/aliases.toml", False),
        ("policy.test.toml", True),
        ("team/aliases.test.toml", True),
        ("tests/aliases.toml", True),
        ("team/tests/deep/x.toml", True),
        ("testsuite/x.toml", False),
        ("latest.toml", False),
    ],
)
def test_which_files_are_tests(name: str, is_test: bool) -> None:
    assert is_test_file(name) is is_test


def test_test_files_are_never_merged_as_policy(tmp_path: Path) -> None:
    directory = policy_dir(tmp_path, {"tests/a.toml": GOOD, "b.test.toml": GOOD})
    assert [name for name, _ in find_files(directory)] == ["policy.toml"]
    assert [name for name, _ in find_test_files(directory)] == ["b.test.toml", "tests/a.toml"]
    result = load_policy(directory, {})
    assert result.policy is not None, [str(d) for d in result.diagnostics]
    assert not any("tests" in d.path for d in result.diagnostics)


def test_editing_a_test_does_not_change_the_policy_version(tmp_path: Path) -> None:
    directory = policy_dir(tmp_path, {"policy.test.toml": GOOD})
    before = load_policy(directory, {}).policy
    (directory / "policy.test.toml").write_text(GOOD.replace("tools go", "tools still go"))
    after = load_policy(directory, {}).policy
    assert before is not None and after is not None
    assert before.version == after.version


def test_a_good_case_loads_and_runs(tmp_path: Path) -> None:
    outcome = run_suite(policy_dir(tmp_path, {"policy.test.toml": GOOD}))
    assert outcome.errors == []
    assert [(r.case.where, r.case.name, r.passed) for r in outcome.results] == [
        ("policy.test.toml:2", "tools go to big-m", True)
    ]
    assert outcome.exit_code == EXIT_PASSED


def test_no_test_files(tmp_path: Path) -> None:
    outcome = run_suite(policy_dir(tmp_path, {}))
    assert (outcome.files, outcome.results, outcome.errors) == ([], [], [])
    assert outcome.exit_code == EXIT_NO_TESTS


def problems(tmp_path: Path, text: str) -> list[str]:
    outcome = run_suite(policy_dir(tmp_path, {"policy.test.toml": text}))
    assert outcome.results == []
    assert outcome.exit_code == EXIT_LOAD_ERROR
    return [str(d) for d in outcome.errors]


def test_unknown_keys_and_bad_values(tmp_path: Path) -> None:
    text = """title = "x"

[[tests]]
name = "bad"
model = "pick"
max_tokens = 0
stream = "yes"
colour = "red"
key = { group = "limited", budget = 3 }
now = 2026-01-05T09:00:00
health = [{ channel = "a", breaker = "half" }]
expect = { rule = 0, refused = 418, frist = "x", cost_usd = { min = -1 } }
"""
    assert problems(tmp_path, text) == [
        "policy.test.toml:1: title: unknown key (known: tests)",
        "policy.test.toml:6: tests.0.max_tokens: must be at least 1",
        "policy.test.toml:7: tests.0.stream: expected true or false, got a string",
        "policy.test.toml:8: tests.0.colour: unknown key (known: expect, headers, health, images, key, kind, max_tokens, "
        "model, name, now, prompt, prompt_tokens, stream, tools, unset_env, wants_json)",
        "policy.test.toml:9: tests.0.key.budget: unknown key (known: balance_usd, group, models, name, quota_usd, "
        "spent_month_usd, spent_today_usd, spent_usd, tags)",
        "policy.test.toml:10: tests.0.now: expected a date and time with a UTC offset, like 2026-01-05T09:30:00Z, "
        "got a time without a UTC offset",
        "policy.test.toml:11: tests.0.health.0.breaker: Input should be 'closed' or 'open'",
        "policy.test.toml:12: tests.0.expect.cost_usd.min: must be at least 0",
        "policy.test.toml:12: tests.0.expect.frist: unknown key (known: attempts, code, cost_usd, first, message, "
        "refused, rule)",
        "policy.test.toml:12: tests.0.expect.refused: expected one of 400, 402, 403, 404, 503",
        'policy.test.toml:12: tests.0.expect.rule: expected a rule number (1, 2, ...), "candidates" or "none"',
    ]


def test_dangling_names(tmp_path: Path) -> None:
    text = """
[[tests]]
name = "dangling"
model = "gpt-4"
key = { group = "nobody" }
headers = { "x-other" = "1" }
unset_env = ["C_KEY"]
health = [{ channel = "c" }, { channel = "b", model = "fast-m" }, { channel = "a", cooldown_s = 3 }]
expect.rule = 3
expect.first = "nope@a"
expect.attempts = ["big-m@zz", "fast-m@b", "big-m"]
"""
    assert problems(tmp_path, text) == [
        "policy.test.toml:4: tests.0.model: unknown model or alias 'gpt-4' (known: big-m, fast-m, free-m, office, pick, quick)",
        "policy.test.toml:5: tests.0.key.group: unknown group 'nobody' (known: default, limited)",
        "policy.test.toml:6: tests.0.headers.x-other: rules cannot read header 'x-other': it is not in [router] "
        "request_headers (x-team)",
        "policy.test.toml:7: tests.0.unset_env.0: unknown variable 'C_KEY' (known: A_KEY, B_KEY)",
        "policy.test.toml:8: tests.0.health.0.channel: unknown channel 'c' (known: a, b, demo)",
        "policy.test.toml:8: tests.0.health.1.model: channel 'b' does not serve 'fast-m' (it serves big-m)",
        'policy.test.toml:8: tests.0.health.2.cooldown_s: only an open breaker cools down: add breaker = "open"',
        "policy.test.toml:9: tests.0.expect.rule: no rule 3: 'gpt-4' is no alias",
        "policy.test.toml:10: tests.0.expect.first: unknown model 'nope' (known: big-m, fast-m, free-m)",
        "policy.test.toml:11: tests.0.expect.attempts.0: unknown channel 'zz' (known: a, b, demo)",
        "policy.test.toml:11: tests.0.expect.attempts.1: channel 'b' does not serve 'fast-m' (it serves big-m)",
    ]


def test_an_unknown_model_is_fine_when_the_case_expects_404(tmp_path: Path) -> None:
    text = '[[tests]]\nname = "404"\nmodel = "gpt-4"\nexpect.refused = 404\n'
    outcome = run_suite(policy_dir(tmp_path, {"policy.test.toml": text}))
    assert outcome.errors == [] and outcome.results[0].passed


def test_contradictions_and_missing_expectations(tmp_path: Path) -> None:
    text = """
[[tests]]
name = "refused with a route"
model = "pick"
expect = { refused = 404, first = "fast-m", cost_usd = { min = 2.0, max = 1.0 } }

[[tests]]
name = "nothing expected"
model = "fast-m"
expect = {}

[[tests]]
name = "a code without a refusal"
model = "pick"
expect = { code = "x", rule = 3 }

[[tests]]
name = "nothing expected"
model = "fast-m"
expect.first = "fast-m"

[[tests]]
name = "a model misses no rule"
model = "fast-m"
expect.rule = "candidates"

[[tests]]
name = "an alias without rules misses none"
model = "quick"
expect.rule = "candidates"
"""
    assert problems(tmp_path, text) == [
        "policy.test.toml:5: tests.0.expect.cost_usd: a refused request has no route: drop this or `refused`",
        "policy.test.toml:5: tests.0.expect.cost_usd.max: must be at least min",
        "policy.test.toml:5: tests.0.expect.first: a refused request has no route: drop this or `refused`",
        "policy.test.toml:10: tests.1.expect: say what must follow: one of rule, first, attempts, cost_usd, refused",
        "policy.test.toml:15: tests.2.expect.code: only a refusal has a code and a message: add `refused`",
        "policy.test.toml:15: tests.2.expect.rule: no rule 3: alias 'pick' has 2 rules",
        "policy.test.toml:18: tests.3.name: a case named 'nothing expected' is already in this file (line 8)",
        "policy.test.toml:25: tests.4.expect.rule: no rules to miss: 'fast-m' is no alias (expect rule = \"none\")",
        "policy.test.toml:30: tests.5.expect.rule: no rules to miss: alias 'quick' has 0 rules (expect rule = \"none\")",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n', "policy.test.toml:1: name: unknown key (known: tests)"),
        ("x = 1\n", "policy.test.toml:1: x: unknown key (known: tests)"),
        ("tests = 3\n", "policy.test.toml:1: tests: expected [[tests]] tables, got an integer"),
        (
            "[[tests]\n",
            "policy.test.toml:1: syntax: invalid TOML: Expected ']]' at the end of an array declaration (column 8)",
        ),
    ],
)
def test_broken_files(tmp_path: Path, text: str, message: str) -> None:
    assert message in problems(tmp_path, text)


def test_wrong_kinds_of_values(tmp_path: Path) -> None:
    text = """[[tests]]
name = "a"
model = "pick"
now = 2026-01-05
health = { channel = "a" }
headers = { "x-team" = 3 }
key = "team"
expect.first = "fast-m"
"""
    assert problems(tmp_path, text) == [
        "policy.test.toml:4: tests.0.now: expected a date and time with a UTC offset, like 2026-01-05T09:30:00Z, "
        "got a date/time",
        "policy.test.toml:5: tests.0.health: expected an array, got a table",
        "policy.test.toml:6: tests.0.headers.x-team: expected a string, got an integer",
        "policy.test.toml:7: tests.0.key: expected a table, got a string",
    ]


def test_an_empty_test_file_is_a_problem(tmp_path: Path) -> None:
    assert problems(tmp_path, "# nothing yet\n") == ["policy.test.toml:1: tests: a test file needs [[tests]] tables"]


def test_a_broken_policy_stops_before_the_tests(tmp_path: Path) -> None:
    directory = policy_dir(tmp_path, {"policy.test.toml": GOOD, "more.toml": "[groups.other]\nrpm = 0\n"})
    outcome = run_suite(directory)
    assert [str(d) for d in outcome.errors] == ["more.toml:2: groups.other.rpm: must be at least 1"]
    assert outcome.results == []
    assert outcome.exit_code == EXIT_LOAD_ERROR


def test_a_case_names_the_kind_its_endpoint_asks(tmp_path: Path) -> None:
    """``kind`` plans the case as an embeddings or images request (issue 13: model kinds)."""
    case = CaseRaw.model_validate({"name": "n", "model": "m", "kind": "embedding", "expect": {"first": "m"}})
    policy = _kind_policy(tmp_path)
    assert case_facts(case, OpenAIChatCodec(), policy).kind == "embedding"
    with pytest.raises(ValidationError):
        CaseRaw.model_validate({"name": "n", "model": "m", "kind": "audio", "expect": {"first": "m"}})


def _kind_policy(tmp_path: Path) -> CompiledPolicy:
    (tmp_path / "policy.toml").write_text(
        '[channels.demo]\nformat = "openai"\nbase_url = "demo://local"\nmodels = ["m"]\n'
        '[models.m]\nkind = "embedding"\n'
    )
    loaded = load_policy(tmp_path, {})
    assert loaded.policy is not None
    return loaded.policy
