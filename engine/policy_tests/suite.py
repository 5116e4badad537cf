"""Run every policy test of a directory: load the policy and the cases, run each case.

Tests are hermetic: the policy is loaded as if every ``${VAR}`` and ``${file:...}`` it
references were set (to a placeholder; no secret is read, nothing is ever sent), so a case
routes the same on a laptop with provider keys and in CI without them. A case's
``unset_env`` loads the policy with those references unset (``"*"``: all of them), as a
server missing those keys would. Tests under ``canary/`` (``canary/tests/`` or
``canary/*.test.toml``) run against the canary's candidate (``engine.policy.canary``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.policy.compiled import CompiledPolicy, Diagnostic
from engine.policy.load import load_policy
from engine.policy.sources import find_canary_test_files, find_test_files, read_files
from engine.policy_tests.load import Case, check_cases
from engine.policy_tests.runner import Result, run_case
from providers.registry import build_registry

PLACEHOLDER = "policy-test-placeholder"
EXIT_PASSED, EXIT_FAILED, EXIT_LOAD_ERROR, EXIT_NO_TESTS = 0, 1, 2, 5  # pytest's codes


class PlaceholderEnv(Mapping[str, str]):
    """An environment where every variable is set, except ``unset``; it remembers which
    variables were asked for (the ones the policy references)."""

    def __init__(self, unset: frozenset[str] = frozenset()) -> None:
        self.unset = unset
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        if name in self.unset:
            raise KeyError(name)
        return PLACEHOLDER

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(slots=True)
class SuiteOutcome:
    files: list[str] = field(default_factory=list)  # test files, sorted
    results: list[Result] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)  # the policy or a test file does not load

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.passed]

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_LOAD_ERROR
        if not self.results:
            return EXIT_NO_TESTS
        return EXIT_FAILED if self.failed else EXIT_PASSED


def has_tests(directory: Path) -> bool:
    return directory.is_dir() and bool(find_test_files(directory) or find_canary_test_files(directory))


def run_suite(directory: Path) -> SuiteOutcome:
    found = find_test_files(directory) if directory.is_dir() else []
    on_canary = find_canary_test_files(directory) if directory.is_dir() else []
    outcome = SuiteOutcome(files=[name for name, _ in [*found, *on_canary]])
    env = PlaceholderEnv()
    loaded = load_policy(directory, env, secret_files=False)
    if loaded.policy is None:
        outcome.errors = loaded.errors
        return outcome
    stable, canary = loaded.policy, loaded.policy.canary
    if on_canary and canary is None:
        name = on_canary[0][0]
        outcome.errors = [Diagnostic(name, 1, "tests", "tests of a canary candidate, but the policy has no [canary]")]
        return outcome
    suites = [(found, stable, False), *([(on_canary, canary.policy, True)] if canary is not None else [])]
    planned: list[tuple[Case, bool]] = []
    for files, policy, candidate in suites:
        sources, unreadable = read_files(files)
        cases, problems = check_cases(sources, policy, frozenset(env.asked))
        outcome.errors += [*unreadable, *problems]
        planned += [(case, candidate) for case in cases]
    if outcome.errors:
        return outcome
    policies: dict[tuple[frozenset[str], bool], CompiledPolicy] = {(frozenset(), False): stable}
    if canary is not None:
        policies[frozenset(), True] = canary.policy
    codec = build_registry().codec("openai")
    for case, candidate in planned:
        policy = _policy_for(directory, case, candidate, policies, frozenset(env.asked))
        outcome.results.append(run_case(case, policy, codec))
    return outcome


def _policy_for(
    directory: Path,
    case: Case,
    candidate: bool,
    policies: dict[tuple[frozenset[str], bool], CompiledPolicy],
    variables: frozenset[str],
) -> CompiledPolicy:
    """The policy ``case`` runs on (the canary's candidate for its tests), with the
    variables it unsets unset."""
    unset = frozenset(case.raw.unset_env)
    if "*" in unset:
        unset = variables
    policy = policies.get((unset, candidate))
    if policy is None:
        loaded = load_policy(directory, PlaceholderEnv(unset), secret_files=False).policy
        assert loaded is not None, "unsetting variables only disables channels"
        if candidate:
            assert loaded.canary is not None
            loaded = loaded.canary.policy
        policy = policies[unset, candidate] = loaded
    return policy
