"""Load a policy directory: read, merge, validate and compile, collecting every problem.

``load_policy(directory, env)`` is the one entry point (``env`` is what ``${VAR}`` references
read; ``${file:...}`` ones are read from disk here, see ``engine.policy.secrets``):
``LoadResult.policy`` is None when any diagnostic is an error; ``diagnostics`` lists every
problem (errors and warnings) as ``file:line: key.path: message``, sorted by file and line.
The files under ``canary/`` are a candidate policy (``engine.policy.canary``).
Files that are not valid TOML stop the load after reading (checking the rest would mostly report
references to what those files define).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.policy.compile import compile_policy, sort_diagnostics
from engine.policy.compiled import CompiledPolicy, Diagnostic
from engine.policy.document import merge
from engine.policy.secrets import SecretLookup
from engine.policy.sources import find_canary_files, read_files, read_sources


@dataclass(frozen=True, slots=True)
class LoadResult:
    policy: CompiledPolicy | None
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def load_policy(
    directory: Path,
    env: Mapping[str, str],
    *,
    secret_files: bool = True,
    wrap: Callable[[Mapping[str, str]], Mapping[str, str]] | None = None,
) -> LoadResult:
    """``secret_files=False``: ``env`` answers ``${file:...}`` references too, and no secret
    file is read (policy tests, which load the policy with placeholder secrets). ``wrap``
    wraps the secret lookup (``turnout replay`` answers unset references with placeholders)."""
    sources, unreadable = read_sources(directory)
    candidate, unreadable_candidate = read_files(find_canary_files(directory)) if directory.is_dir() else ([], [])
    unreadable = [*unreadable, *unreadable_candidate]
    if unreadable:
        return LoadResult(None, sort_diagnostics(unreadable))
    doc, duplicates = merge(sources)
    lookup: Mapping[str, str] = SecretLookup(env, directory) if secret_files else env
    if wrap is not None:
        lookup = wrap(lookup)
    policy, diagnostics = compile_policy(doc, lookup, str(directory), candidate)
    if duplicates:
        return LoadResult(None, sort_diagnostics([*duplicates, *diagnostics]))
    return LoadResult(policy, diagnostics)
