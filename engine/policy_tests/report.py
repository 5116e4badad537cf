"""The text report of a policy test run, pytest-like: one line per test file with a dot per
passing case and ``F`` per failing one, then each failure (``file:line``, the case, expected
vs got), then one summary line. Pure: a ``SuiteOutcome`` in, lines out.
"""

from __future__ import annotations

from engine.policy_tests.runner import Result
from engine.policy_tests.suite import SuiteOutcome

WIDTH = 72


def render(outcome: SuiteOutcome, directory: str) -> list[str]:
    if outcome.errors:
        count = len(outcome.errors)
        return [*map(str, outcome.errors), f"error: {count} problem{'s' if count != 1 else ''}; no test ran"]
    if not outcome.results:
        return [f"no policy tests in {directory} (write [[tests]] in *.test.toml files, or in a tests/ folder)"]
    lines = _progress(outcome)
    failed = outcome.failed
    if failed:
        lines.append(_banner(" FAILURES ", "="))
        for result in failed:
            lines += _failure(result)
    lines.append(_banner(f" {summary(outcome)} ", "="))
    return lines


def for_check(outcome: SuiteOutcome) -> list[str]:
    """What ``turnout check`` adds: the load problems, or each failure and ``tests: ...``
    (and ``error: ...`` last when a case failed)."""
    if outcome.errors:
        count = len(outcome.errors)
        return [*map(str, outcome.errors), f"error: {count} problem{'s' if count != 1 else ''} in the policy tests"]
    lines: list[str] = []
    for result in outcome.failed:
        lines += _failure(result)[1:]
    lines.append(f"tests: {summary(outcome)}")
    failed = len(outcome.failed)
    if failed:
        lines.append(f"error: {failed} of {len(outcome.results)} policy tests failed")
    return lines


def summary(outcome: SuiteOutcome) -> str:
    failed = len(outcome.failed)
    passed = len(outcome.results) - failed
    parts = [f"{failed} failed"] if failed else []
    return ", ".join([*parts, f"{passed} passed"])


def _progress(outcome: SuiteOutcome) -> list[str]:
    by_file: dict[str, str] = {}
    for result in outcome.results:
        by_file[result.case.file] = by_file.get(result.case.file, "") + ("." if result.passed else "F")
    return [f"{file} {marks}" for file, marks in by_file.items()]


def _failure(result: Result) -> list[str]:
    case = result.case
    lines = [_banner(f" {case.name} ", "_"), f"{case.where}: {case.name}"]
    for mismatch in result.mismatches:
        lines.append(f"  {mismatch.what}: expected {mismatch.expected}")
        lines.append(f"  {' ' * len(mismatch.what)}       got {mismatch.got}")
    said = result.got.describe()
    if all(m.got != said for m in result.mismatches):
        lines.append(f"  the gateway would: {said}")
    return lines


def _banner(text: str, fill: str) -> str:
    return text.center(WIDTH, fill)
