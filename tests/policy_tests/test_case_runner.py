"""Running policy test cases: every kind of expectation, passing and failing, the request's
facts, the key, the time and health overrides, on the fixture policy
(tests/fixtures/policy_tests/policy.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.policy_tests.runner import Result
from engine.policy_tests.suite import EXIT_FAILED, EXIT_PASSED, run_suite
from tests.policy_tests.helpers import policy_dir


def run(tmp_path: Path, **cases: str) -> dict[str, Result]:
    """Run one case per keyword (its name), each given as the TOML keys after its name."""
    text = "".join(f'[[tests]]\nname = "{name}"\n{body.strip()}\n\n' for name, body in cases.items())
    outcome = run_suite(policy_dir(tmp_path, {"policy.test.toml": text}))
    assert outcome.errors == [], [str(d) for d in outcome.errors]
    return {r.case.name: r for r in outcome.results}


def mismatches(result: Result) -> list[tuple[str, str, str]]:
    return [(m.what, m.expected, m.got) for m in result.mismatches]


def test_rule_first_attempts_and_cost_that_hold(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        plain="""
model = "pick"
expect.rule = "candidates"
expect.first = "fast-m@a"
expect.attempts = ["fast-m@a", "big-m@a", "big-m@b", "free-m@demo"]
expect.cost_usd = { min = 0.008, max = 0.0082 }
""",
        bare_models="""
model = "pick"
expect.first = "fast-m"
expect.attempts = ["fast-m", "big-m@a", "big-m", "free-m"]
""",
        concrete="""
model = "big-m"
expect.rule = "none"
expect.attempts = ["big-m@a", "big-m@b", "free-m@demo"]
""",
    )
    assert {name: mismatches(r) for name, r in results.items()} == {"plain": [], "bare_models": [], "concrete": []}


def test_rule_first_attempts_and_cost_that_fail(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        wrong="""
model = "pick"
expect.rule = 1
expect.first = "big-m@b"
expect.attempts = ["fast-m@a", "big-m@a"]
expect.cost_usd = { max = 0.001 }
""",
        unpriced="""
model = "free-m"
expect.cost_usd = { min = 0.0 }
""",
        too_cheap="""
model = "pick"
expect.cost_usd = { min = 0.01 }
""",
    )
    assert mismatches(results["wrong"]) == [
        ("rule", "1", "candidates"),
        ("first", "big-m@b", "fast-m@a"),
        ("attempts", "fast-m@a, big-m@a", "fast-m@a, big-m@a, big-m@b, free-m@demo"),
        ("cost_usd", "$0 to $0.001", "$0.008198 (fast-m@a)"),
    ]
    assert mismatches(results["unpriced"]) == [("cost_usd", "at least $0", "unpriced (free-m@demo)")]
    assert mismatches(results["too_cheap"]) == [("cost_usd", "at least $0.01", "$0.008198 (fast-m@a)")]


def test_refusals_that_hold(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        not_found="""
model = "gpt-4"
expect = { refused = 404, code = "model_not_found", message = "Known models and aliases: big-m" }
""",
        not_allowed="""
model = "fast-m"
key = { name = "ci", group = "limited" }
expect = { refused = 403, code = "model_not_allowed", message = "group 'limited' allows pick" }
""",
        key_narrowed="""
model = "fast-m"
key = { models = ["big-*"] }
expect = { refused = 403, message = "the key allows big-*" }
""",
        budget="""
model = "pick"
key = { group = "limited", spent_today_usd = 0.99 }
expect = { refused = 402, code = "budget_exceeded", message = "this request may cost up to $0.04099" }
""",
        budget_room="""
model = "pick"
key = { group = "limited", spent_today_usd = 0.9 }
expect.first = "fast-m@a"
""",
        balance="""
model = "pick"
key = { balance_usd = 0.01 }
expect = { refused = 402, code = "insufficient_balance" }
""",
        quota="""
model = "pick"
key = { quota_usd = 1.0, spent_usd = 0.99 }
expect = { refused = 402, code = "quota_exceeded" }
""",
        no_route="""
model = "pick"
wants_json = true
expect = { refused = 503, code = "no_route", message = "fast-m: missing capability: json" }
""",
        too_large="""
model = "fast-m"
prompt_tokens = 20_000
expect = { refused = 400, code = "context_length_exceeded" }
""",
    )
    assert {name: mismatches(r) for name, r in results.items() if not r.passed} == {}


def test_refusals_that_fail(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        routed="""
model = "pick"
expect.refused = 403
""",
        other_status="""
model = "fast-m"
key = { group = "limited" }
expect.refused = 404
""",
        other_code="""
model = "gpt-4"
expect = { refused = 404, code = "model_not_allowed", message = "nothing like this" }
""",
        refused_instead="""
model = "fast-m"
key = { group = "limited" }
expect.first = "fast-m"
""",
    )
    routed = "routed: rule candidates, attempts fast-m@a, big-m@a, big-m@b, free-m@demo"
    assert mismatches(results["routed"]) == [("refused", "403", routed)]
    forbidden = (
        "refused 403 model_not_allowed: model 'fast-m' is not allowed for API key 'policy-test' "
        "(group 'limited' allows pick; the key allows *)"
    )
    assert mismatches(results["other_status"]) == [("refused", "404", forbidden)]
    assert [m[:2] for m in mismatches(results["other_code"])] == [
        ("code", "model_not_allowed"),
        ("message", "a message containing 'nothing like this'"),
    ]
    assert mismatches(results["other_code"])[0][2] == "model_not_found"
    assert mismatches(results["refused_instead"]) == [("route", "a route", forbidden)]


@pytest.mark.parametrize(
    ("request_keys", "rule", "attempts"),
    [
        ("tools = true", "1", "big-m@a, big-m@b, free-m@demo"),
        ('headers = { "x-team" = "x" }', "2", "fast-m@a, free-m@demo"),
        ('headers = { "X-Team" = "x" }', "2", "fast-m@a, free-m@demo"),
        ("images = 1", "candidates", "big-m@a, big-m@b, free-m@demo"),
        ("prompt_tokens = 9_000\nmax_tokens = 2_000", "candidates", "big-m@a, big-m@b, free-m@demo"),
        ('prompt = "' + "x" * 40_000 + '"', "candidates", "big-m@a, big-m@b, free-m@demo"),
    ],
)
def test_what_the_request_says_reaches_the_rules(tmp_path: Path, request_keys: str, rule: str, attempts: str) -> None:
    result = run(tmp_path, case=f'model = "pick"\n{request_keys}\nexpect.rule = "none"')["case"]
    assert mismatches(result) == [("rule", "none", rule)]
    assert ", ".join(result.got.attempts) == attempts


@pytest.mark.parametrize(
    ("keys", "rule"),
    [
        ("", "1"),  # the default time: a Monday at noon UTC
        ("now = 2026-01-05T20:00:00Z", "candidates"),
        ("now = 2026-01-05T20:00:00Z\nkey = { tags = ['beta'] }", "2"),
        ("now = 2026-01-05T20:00:00+02:00\nstream = true", "3"),  # 18:00 UTC
        ("now = 2026-01-05T10:00:00-02:00\nstream = true", "1"),  # 12:00 UTC
    ],
)
def test_time_key_tags_and_stream(tmp_path: Path, keys: str, rule: str) -> None:
    result = run(tmp_path, case=f'model = "office"\n{keys}\nexpect.rule = {rule if rule.isdigit() else repr(rule)}')
    assert result["case"].passed, mismatches(result["case"])


def test_health_overrides(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        fastest="""
model = "quick"
health = [{ channel = "b", latency_ms = [100, 120] }, { channel = "a", model = "fast-m", latency_ms = [300] }]
expect.attempts = ["big-m@b", "fast-m@a", "big-m@a"]
""",
        unmeasured="""
model = "quick"
expect.attempts = ["fast-m@a", "big-m@a", "big-m@b"]
""",
        breaker_open="""
model = "pick"
health = [{ channel = "a", breaker = "open" }]
expect.attempts = ["big-m@b", "free-m@demo"]
""",
        one_model_cooling="""
model = "pick"
health = [{ channel = "a", model = "big-m", breaker = "open" }]
expect.attempts = ["fast-m@a", "big-m@b", "free-m@demo"]
""",
        saturated="""
model = "pick"
tools = true
health = [{ channel = "b", in_flight = 2 }]
expect.attempts = ["big-m@a", "free-m@demo"]
""",
        below_saturation="""
model = "pick"
tools = true
health = [{ channel = "b", in_flight = 1 }]
expect.attempts = ["big-m@a", "big-m@b", "free-m@demo"]
""",
        panic="""
model = "fast-m"
health = [{ channel = "a", breaker = "open", cooldown_s = 4 }]
expect.attempts = ["fast-m@a"]
""",
    )
    assert {name: mismatches(r) for name, r in results.items() if not r.passed} == {}


def test_panic_picks_the_breaker_that_reopens_first(tmp_path: Path) -> None:
    text = """
model = "big-m"
health = [
  {{ channel = "a", model = "big-m", breaker = "open", cooldown_s = {a} }},
  {{ channel = "b", breaker = "open", cooldown_s = {b} }},
  {{ channel = "demo", breaker = "open", cooldown_s = 60 }},
]
expect.attempts = ["big-m@b"]
"""
    results = run(tmp_path, b_first=text.format(a=9, b=2))
    assert results["b_first"].passed
    other = run(tmp_path / "again", a_first=text.format(a=2, b=9))["a_first"]
    assert mismatches(other) == [("attempts", "big-m@b", "big-m@a")]


def test_unset_env_skips_those_channels(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        no_a="""
model = "pick"
unset_env = ["A_KEY"]
expect.attempts = ["big-m@b", "free-m@demo"]
""",
        none="""
model = "pick"
unset_env = ["*"]
expect.attempts = ["free-m@demo"]
""",
        all_set="""
model = "pick"
expect.first = "fast-m@a"
""",
    )
    assert {name: mismatches(r) for name, r in results.items() if not r.passed} == {}


def test_secret_files_count_as_set_and_are_never_read(tmp_path: Path) -> None:
    more = '[channels.c]\nformat = "openai"\nbase_url = "https://c.example.invalid/v1"\n'
    more += 'api_key = "${file:secrets/c}"\nmodels = ["fast-m"]\n'
    cases = """
[[tests]]
name = "set"
model = "fast-m"
expect.attempts = ["fast-m@a", "fast-m@c"]

[[tests]]
name = "unset"
model = "fast-m"
unset_env = ["file:secrets/c"]
expect.attempts = ["fast-m@a"]
"""
    directory = policy_dir(tmp_path, {"more.toml": more, "policy.test.toml": cases})
    assert not (directory / "secrets").exists()
    outcome = run_suite(directory)
    assert outcome.errors == []
    assert {r.case.name: mismatches(r) for r in outcome.results} == {"set": [], "unset": []}


def test_the_exit_code_follows_the_results(tmp_path: Path) -> None:
    good = 'model = "pick"\nexpect.first = "fast-m@a"'
    assert run_suite(policy_dir(tmp_path / "a", {"t.test.toml": f'[[tests]]\nname = "x"\n{good}\n'})).exit_code == (
        EXIT_PASSED
    )
    bad = f'[[tests]]\nname = "x"\n{good}\n[[tests]]\nname = "y"\nmodel = "pick"\nexpect.rule = 1\n'
    outcome = run_suite(policy_dir(tmp_path / "b", {"t.test.toml": bad}))
    assert (outcome.exit_code, [r.case.name for r in outcome.failed]) == (EXIT_FAILED, ["y"])
