"""``turnout check``: load a policy directory and say what is wrong with it, or what it has.

``run_check`` returns the exit code (0 when the policy loads, warnings or not; 1 on any
error) and the lines to print: every diagnostic, then one summary line (``ok: ...`` or
``error: ...``). When the directory has policy tests (``engine.policy_tests``) they run
too (``tests: 27 passed`` before the summary), and a failing or broken one fails the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from engine.policy.compiled import CompiledPolicy
from engine.policy.load import load_policy
from engine.policy_tests.report import for_check
from engine.policy_tests.suite import EXIT_FAILED, EXIT_LOAD_ERROR, has_tests, run_suite


def run_check(directory: Path, env: Mapping[str, str]) -> tuple[int, list[str]]:
    result = load_policy(directory, env)
    lines = [str(d) for d in result.diagnostics]
    if result.policy is None:
        errors = len(result.errors)
        warnings = len(result.diagnostics) - errors
        summary = f"error: {_count(errors, 'problem')}"
        if warnings:
            summary += f", {_count(warnings, 'warning')}"
        return 1, [*lines, summary]
    if not has_tests(directory):
        return 0, [*lines, summarize(result.policy)]
    tests = run_suite(directory)
    failed = tests.exit_code in (EXIT_FAILED, EXIT_LOAD_ERROR)
    return (1 if failed else 0), [*lines, *for_check(tests), *([] if failed else [summarize(result.policy)])]


def summarize(policy: CompiledPolicy) -> str:
    """``ok: 3 channels (1 skipped), 12 models, 4 aliases, version 1a2b3c4d5e6f``, and the
    canary's version and share when there is one."""
    skipped = sum(1 for c in policy.channels.values() if not c.enabled)
    channels = _count(len(policy.channels), "channel")
    if skipped:
        channels += f" ({skipped} skipped)"
    models = _count(len(policy.models), "model")
    aliases = _count(len(policy.aliases), "alias", "aliases")
    summary = f"ok: {channels}, {models}, {aliases}, version {policy.version}"
    canary = policy.canary
    if canary is not None:
        sides = [f"{canary.percent:g}% by {canary.sticky}"] if canary.percent else []
        sides += [f"groups {', '.join(sorted(canary.groups))}"] if canary.groups else []
        sides += [f"header {canary.header}"] if canary.header else []
        summary += f"; canary version {canary.version} ({'; '.join(sides) or 'no traffic'})"
    return summary


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"
