"""Load a policy directory: read, merge, validate and compile, collecting every problem.

``load_policy(directory, env)`` is the one entry point (``env`` is what ``${VAR}`` references
read; ``${file:...}`` ones are read from disk here, see ``engine.policy.secrets``):
``LoadResult.policy`` is None when any diagnostic is an error; ``diagnostics`` lists every
problem (errors and warnings) as ``file:line: key.path: message``, sorted by file and line.
Files that are not valid TOML stop the load after reading (checking the rest would mostly report
references to what those files define).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.policy.compile import compile_policy, sort_diagnostics
from engine.policy.compiled import CompiledPolicy, Diagnostic
from engine.policy.document import merge
from engine.policy.secrets import SecretLookup
from engine.policy.sources import read_sources


@dataclass(frozen=True, slots=True)
class LoadResult:
    policy: CompiledPolicy | None
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def load_policy(directory: Path, env: Mapping[str, str], *, secret_files: bool = True) -> LoadResult:
    """``secret_files=False``: ``env`` answers ``${file:...}`` references too, and no secret
    file is read (policy tests, which load the policy with placeholder secrets)."""
    sources, unreadable = read_sources(directory)
    if unreadable:
        return LoadResult(None, sort_diagnostics(unreadable))
    doc, duplicates = merge(sources)
    lookup = SecretLookup(env, directory) if secret_files else env
    policy, diagnostics = compile_policy(doc, lookup, str(directory))
    if duplicates:
        return LoadResult(None, sort_diagnostics([*duplicates, *diagnostics]))
    return LoadResult(policy, diagnostics)
