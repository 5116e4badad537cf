"""Where a policy's secret references are looked up: the process environment, the ``.env``
file, and secret files (``${file:PATH}``), read afresh on every load.

``PolicyEnv`` is what the server and the CLI hand to the loader: the environment overlaid on
the ``.env`` file (the environment wins, as with the settings). ``SecretLookup`` is the
mapping the compiler reads references through; it reads a secret file when a reference
names one. ``fingerprint`` lets the watcher notice a rotated secret file or an edited
``.env`` without any change in the policy directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from engine.policy.env_refs import FILE_PREFIX, secret_path


@dataclass(frozen=True, slots=True)
class PolicyEnv:
    environ: Mapping[str, str]
    dotenv: Path | None = None  # the .env file, when one is used (it may not exist yet)

    def read(self) -> dict[str, str]:
        values: dict[str, str] = {}
        if self.dotenv is not None and self.dotenv.is_file():
            values.update({k: v for k, v in dotenv_values(self.dotenv).items() if v is not None})
        values.update(self.environ)
        return values


def process_env() -> PolicyEnv:
    """This process's environment over the ``.env`` file of its working directory."""
    return PolicyEnv(os.environ, Path(".env").resolve())


class SecretLookup(Mapping[str, str]):
    """``env`` plus ``file:PATH`` keys, read from disk on first use (relative to ``base``)."""

    def __init__(self, env: Mapping[str, str], base: Path) -> None:
        self._env = env
        self._base = base
        self._files: dict[str, str | None] = {}

    def __getitem__(self, key: str) -> str:
        if not key.startswith(FILE_PREFIX):
            return self._env[key]
        if key not in self._files:
            self._files[key] = _read_secret(secret_path(key, self._base))
        value = self._files[key]
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def fingerprint(paths: Iterable[Path]) -> tuple[tuple[str, int, int, int] | None, ...]:
    """Identity and size of each file (following symlinks, so a Kubernetes ``..data`` swap
    shows), None for a missing one."""
    out: list[tuple[str, int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append((str(path), st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)
