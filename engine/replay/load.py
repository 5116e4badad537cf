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

from engine.policy.compile import compile_policy
from engine.policy.compiled import CompiledPolicy
from engine.policy.document import merge
from engine.policy.load import load_policy
from engine.policy.secrets import SecretLookup, process_env
from engine.policy.sources import read_sources

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
    if real_env:
        result = load_policy(directory, env)
        policy, diagnostics = result.policy, result.diagnostics
    else:  # load_policy's steps, with the placeholder lookup around the real one
        sources, unreadable = read_sources(directory)
        doc, duplicates = merge(sources)
        lookup = PlaceholderSecrets(SecretLookup(env, directory))
        policy, diagnostics = compile_policy(doc, lookup, str(directory)) if not unreadable else (None, [])
        diagnostics = [*unreadable, *duplicates, *diagnostics]
        if unreadable or duplicates:
            policy = None
    if policy is None:
        problems = "; ".join(str(d) for d in diagnostics if d.severity == "error")
        raise PolicyLoadError(f"{label}: the policy has errors: {problems or 'see turnout check'}")
    return policy
