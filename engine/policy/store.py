"""The policy store: the one mutable holder of the current compiled policy.

``current`` is an immutable ``CompiledPolicy``; a request reads it once and uses that
snapshot throughout. ``reload()`` is a transaction: the directory is loaded and compiled
in full, and only a policy that passed every check replaces the current one (a plain
attribute swap, atomic for readers). A failed reload keeps serving the old policy and
records why in ``last_error``; an unchanged version (and canary version) swaps nothing, unless a secret it
resolves changed (a rotated key file, an edited ``.env``): that swaps the same version in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from engine.policy.compiled import CompiledPolicy, Diagnostic
from engine.policy.load import LoadResult, load_policy
from engine.policy.secrets import PolicyEnv

logger = logging.getLogger("turnout.policy")

Listener = Callable[[CompiledPolicy], None]


class PolicyLoadError(Exception):
    """The policy could not be loaded; ``diagnostics`` says why, line by line."""

    def __init__(self, directory: Path, diagnostics: list[Diagnostic]) -> None:
        lines = "\n".join(str(d) for d in diagnostics)
        super().__init__(f"policy in {directory} failed to load:\n{lines}")
        self.diagnostics = diagnostics


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    status: Literal["swapped", "unchanged", "failed"]
    version: str  # the version serving after this reload
    previous_version: str
    diagnostics: tuple[Diagnostic, ...] = ()  # the errors when failed, else the warnings

    @property
    def swapped(self) -> bool:
        return self.status == "swapped"


class PolicyStore:
    def __init__(self, directory: Path, env: Mapping[str, str] | PolicyEnv) -> None:
        self.directory = directory
        self._env = env
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        result = load_policy(directory, self._environment())
        if result.policy is None:
            raise PolicyLoadError(directory, result.diagnostics)
        self._current: CompiledPolicy = result.policy
        self.loaded_at: datetime = result.policy.loaded_at
        self.last_error: list[str] | None = None
        self.last_error_at: datetime | None = None

    @property
    def current(self) -> CompiledPolicy:
        return self._current

    def secret_sources(self) -> list[Path]:
        """What the directory watch cannot see and must reload the policy: the secret files
        the current policy names, the ``.env`` file, and the directory itself (through a
        symlink, as git-sync swaps it, the target changes while no file in it does)."""
        policy = self._current
        named = [*policy.secret_files, *(policy.canary.policy.secret_files if policy.canary else ())]
        files = [self.directory, *(Path(p) for p in dict.fromkeys(named))]
        if isinstance(self._env, PolicyEnv) and self._env.dotenv is not None:
            files.append(self._env.dotenv)
        return files

    def _environment(self) -> Mapping[str, str]:
        return self._env.read() if isinstance(self._env, PolicyEnv) else self._env

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(new_policy)`` after every swap; returns an unsubscribe function."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def reload(self) -> ReloadOutcome:
        with self._lock:
            previous = self._current
            result = self._load()
            policy = result.policy
            if policy is None:
                self.last_error = [str(d) for d in result.diagnostics]
                self.last_error_at = datetime.now(UTC)
                outcome = ReloadOutcome("failed", previous.version, previous.version, tuple(result.errors))
                listeners: list[Listener] = []
            else:
                self.last_error = None
                self.last_error_at = None
                status: Literal["swapped", "unchanged"] = "unchanged"
                if policy.served_versions != previous.served_versions or _secrets(policy) != _secrets(previous):
                    self._current = policy
                    self.loaded_at = policy.loaded_at
                    status = "swapped"
                outcome = ReloadOutcome(status, self._current.version, previous.version, policy.warnings)
                listeners = list(self._listeners) if status == "swapped" else []
        _log(outcome)
        for listener in listeners:
            try:
                listener(self._current)
            except Exception:
                logger.exception("policy swap listener %r failed", listener)
        return outcome

    def _load(self) -> LoadResult:
        """Load the directory; a bug in the loader is a failed reload, not a dead watcher."""
        try:
            return load_policy(self.directory, self._environment())
        except Exception as exc:
            logger.exception("policy loader crashed")
            problem = Diagnostic(".", 0, "policy", f"internal error while loading: {exc!r}")
            return LoadResult(None, [problem])


def _secrets(policy: CompiledPolicy) -> tuple[str, str | None]:
    """The digests of the secrets the policy and its canary resolve."""
    return policy.secrets_digest, policy.canary.policy.secrets_digest if policy.canary else None


def _log(outcome: ReloadOutcome) -> None:
    if outcome.status == "swapped":
        logger.info(
            "policy reloaded: version %s (was %s), %d warnings",
            outcome.version,
            outcome.previous_version,
            len(outcome.diagnostics),
        )
    elif outcome.status == "unchanged":
        logger.debug("policy unchanged: version %s", outcome.version)
    else:
        logger.warning(
            "policy reload failed, still serving version %s:\n%s",
            outcome.version,
            "\n".join(str(d) for d in outcome.diagnostics),
        )
