"""``turnout test [DIR] [--junit-xml PATH]``: run the suite, print the text report, write
the JUnit report when asked; the exit code is the suite's (0 passed, 1 a case failed,
2 the policy or a test file does not load, 5 no tests)."""

from __future__ import annotations

from pathlib import Path

from engine.policy_tests.junit import junit_xml
from engine.policy_tests.report import render
from engine.policy_tests.suite import run_suite


def run_policy_tests(directory: Path, junit_path: Path | None) -> int:
    outcome = run_suite(directory)
    for line in render(outcome, str(directory)):
        print(line)
    if junit_path is not None:
        junit_path.parent.mkdir(parents=True, exist_ok=True)
        junit_path.write_bytes(junit_xml(outcome, str(directory)))
    return outcome.exit_code
