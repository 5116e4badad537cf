"""A candidate policy loaded as the server would load it, with every secret reference set.

Replays usually run where provider keys are absent (CI, a laptop); a channel whose
``${VAR}`` or ``${file:...}`` is unset would compile disabled and every route would look
different. ``PlaceholderSecrets`` answers every reference the real lookup cannot with a
placeholder (no upstream is ever called with it), so channels are on as in production;
``real_env=True`` uses the environment as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from engine.policy.compiled import CompiledPolicy
from engine.policy.load import load_policy
from engine.policy.secrets import process_env

PLACEHOLDER = "turnout-replay-placeholder"


class PolicyLoadError(ValueError):
    """The policy does not load; one line naming its problems."""


class PlaceholderSecrets(Mapping[str, str]):
    """The real lookup, where every unset or empty reference reads as a placeholder."""

    def __init__(self, real: Mapping[str, str]) -> None:
        self._real = real

    def __getitem__(self, name: str) -> str:
        try:
            return self._real[name] or PLACEHOLDER
        except KeyError:
            return PLACEHOLDER

    def __iter__(self) -> Iterator[str]:
        return iter(self._real)

    def __len__(self) -> int:
        return len(self._real)


def load(directory: Path, real_env: bool, label: str) -> CompiledPolicy:
    if not directory.is_dir():
        raise PolicyLoadError(f"{label}: no policy directory at {directory}")
    env = process_env().read()
    result = load_policy(directory, env, wrap=None if real_env else PlaceholderSecrets)
    policy, diagnostics = result.policy, result.diagnostics
    if policy is None:
        problems = "; ".join(str(d) for d in diagnostics if d.severity == "error")
        raise PolicyLoadError(f"{label}: the policy has errors: {problems or 'see turnout check'}")
    return policy


def candidate_of(policy: CompiledPolicy, label: str) -> CompiledPolicy:
    """The canary's candidate (``--canary``); an error when the policy has no canary."""
    if policy.canary is None:
        raise PolicyLoadError(f"{label}: the policy has no [canary] (nothing under canary/ is served)")
    return policy.canary.policy
