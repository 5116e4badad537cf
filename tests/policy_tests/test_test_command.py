"""``turnout test`` and ``turnout check`` on policy tests: exit codes, the text report
(syrupy snapshots) and the JUnit XML report (parsed back)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from engine.cli import main
from tests.policy_tests.helpers import policy_dir

PASSING = """
[[tests]]
name = "tools go to big-m"
model = "pick"
tools = true
expect.rule = 1
expect.first = "big-m@a"

[[tests]]
name = "team x gets fast-m"
model = "pick"
headers = { "x-team" = "x" }
expect.attempts = ["fast-m@a", "free-m@demo"]
"""

FAILING = """
[[tests]]
name = "cheapest first"  # passes
model = "pick"
expect.first = "fast-m@a"

[[tests]]
name = "a wrong rule and order"
model = "pick"
tools = true
expect.rule = 2
expect.attempts = ["big-m@b", "big-m@a"]

[[tests]]
name = "limited may call fast-m"
model = "fast-m"
key = { group = "limited" }
expect.first = "fast-m"

[[tests]]
name = "a json request has a route"
model = "pick"
wants_json = true
expect.refused = 404
"""

BROKEN = """
[[tests]]
name = "typo"
model = "pick"
expect.frist = "fast-m"
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def test_passing(tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion) -> None:
    directory = policy_dir(tmp_path, {"tests/routing.toml": PASSING, "groups.test.toml": PASSING})
    code, out = run(["test", str(directory)], capsys)
    assert code == 0
    assert out == snapshot


def test_failing(tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion) -> None:
    directory = policy_dir(tmp_path, {"tests/a.toml": PASSING, "tests/b.toml": FAILING})
    code, out = run(["test", str(directory)], capsys)
    assert code == 1
    assert out == snapshot
    assert out.splitlines()[:2] == ["tests/a.toml ..", "tests/b.toml .FFF"]
    assert "tests/b.toml:7: a wrong rule and order" in out
    assert out.rstrip().endswith(" 3 failed, 3 passed ".center(72, "="))


def test_load_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = policy_dir(tmp_path, {"tests/a.toml": PASSING, "tests/b.toml": BROKEN})
    code, out = run(["test", str(directory)], capsys)
    assert code == 2
    assert out.splitlines() == [
        "tests/b.toml:5: tests.0.expect.frist: unknown key (known: attempts, code, cost_usd, first, message, "
        "refused, rule)",
        "error: 1 problem; no test ran",
    ]


def test_a_policy_that_does_not_load_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = policy_dir(tmp_path, {"tests/a.toml": PASSING, "more.toml": "[aliases.pick]\ncandidates = []\n"})
    code, out = run(["test", str(directory)], capsys)
    assert code == 2
    assert out.splitlines()[0].startswith("more.toml:1: aliases.pick: ")


def test_no_tests_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = policy_dir(tmp_path, {})
    code, out = run(["test", str(directory)], capsys)
    assert code == 5
    assert out == f"no policy tests in {directory} (write [[tests]] in *.test.toml files, or in a tests/ folder)\n"


def test_junit_xml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = policy_dir(tmp_path, {"tests/a.toml": PASSING, "tests/b.toml": FAILING})
    report = tmp_path / "reports" / "policy.xml"
    code, _ = run(["test", str(directory), "--junit-xml", str(report)], capsys)
    assert code == 1
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "3", "0")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name"), c.get("line")) for c in cases] == [
        ("tests/a.toml", "tools go to big-m", "2"),
        ("tests/a.toml", "team x gets fast-m", "9"),
        ("tests/b.toml", "cheapest first", "2"),
        ("tests/b.toml", "a wrong rule and order", "7"),
        ("tests/b.toml", "limited may call fast-m", "14"),
        ("tests/b.toml", "a json request has a route", "20"),
    ]
    assert [c.find("failure") is None for c in cases] == [True, True, True, False, False, False]
    failure = cases[3].find("failure")
    assert failure is not None
    assert failure.get("message") == "rule: expected 2, got 1"
    assert failure.text is not None
    assert failure.text.splitlines() == [
        "tests/b.toml:7: a wrong rule and order",
        "rule: expected 2, got 1",
        "attempts: expected big-m@b, big-m@a, got big-m@a, big-m@b, free-m@demo",
        "routed: rule 1, attempts big-m@a, big-m@b, free-m@demo",
    ]


def test_junit_xml_on_a_load_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = policy_dir(tmp_path, {"tests/b.toml": BROKEN})
    report = tmp_path / "policy.xml"
    assert run(["test", str(directory), "--junit-xml", str(report)], capsys)[0] == 2
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and error.get("message", "").startswith("unknown key (known: attempts")


def test_check_runs_the_tests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = policy_dir(tmp_path, {"tests/a.toml": PASSING})
    code, out = run(["check", str(directory)], capsys)
    assert code == 0
    assert out.splitlines()[-2] == "tests: 2 passed"
    assert out.splitlines()[-1].startswith("ok: 3 channels (2 skipped), 3 models, 3 aliases, version ")


def test_a_failing_case_fails_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = policy_dir(tmp_path, {"tests/a.toml": PASSING, "tests/b.toml": FAILING})
    code, out = run(["check", str(directory)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[-2:] == ["tests: 3 failed, 3 passed", "error: 3 of 6 policy tests failed"]
    assert not any(line.startswith("ok: ") for line in lines)
    assert "tests/b.toml:7: a wrong rule and order" in lines
    assert "  rule: expected 2" in lines


def test_a_broken_case_fails_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = policy_dir(tmp_path, {"tests/b.toml": BROKEN})
    code, out = run(["check", str(directory)], capsys)
    assert code == 1
    assert out.splitlines()[-2:] == [
        "tests/b.toml:5: tests.0.expect.frist: unknown key (known: attempts, code, cost_usd, first, message, "
        "refused, rule)",
        "error: 1 problem in the policy tests",
    ]


def test_check_without_tests_says_nothing_about_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["check", str(policy_dir(tmp_path, {}))], capsys)
    assert code == 0
    assert "tests:" not in out
