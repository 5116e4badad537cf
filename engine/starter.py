"""The starter policy shipped inside the package, and ``turnout init`` writing it out.

The repository's ``policies/`` directory *is* the starter policy: ``engine/starter_policy``
links to it, so an installed wheel carries the same files (with their tutorial comments)
and a source checkout reads them in place. ``init`` copies them into a new directory and
writes a ``.env.example`` naming every provider key the policy reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

_VARIABLE = re.compile(r'"\$\{([A-Z][A-Z0-9_]*)\}"')

ENV_HEADER = """\
# Copy to .env (beside where you run `turnout serve`) and fill in what you use.
# Provider keys: a channel whose key is empty is skipped with a warning; the demo
# channel answers with no key at all. .env is re-read when it changes.
"""
ENV_SETTINGS = """
# Server settings (`turnout serve --help` lists them all):
# TURNOUT_HOST=127.0.0.1
# TURNOUT_PORT=8080
# TURNOUT_POLICY_DIR=./policies
# TURNOUT_API_KEYS=sk-choose-a-long-random-key
"""


def starter_files() -> Iterator[tuple[PurePosixPath, str]]:
    """Every policy file of the starter policy: its path inside the policy directory and text."""
    yield from _walk(files("engine") / "starter_policy", PurePosixPath())


def _walk(directory: Traversable, prefix: PurePosixPath) -> Iterator[tuple[PurePosixPath, str]]:
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if not entry.name.startswith(("_", ".")):
                yield from _walk(entry, prefix / entry.name)
        elif entry.name.endswith(".toml"):
            yield prefix / entry.name, entry.read_text(encoding="utf-8")


def env_example(texts: list[str]) -> str:
    """A ``.env.example`` naming each variable the policy texts reference, in order of use."""
    seen: dict[str, None] = {}
    for text in texts:
        for line in text.splitlines():
            if not line.lstrip().startswith("#"):
                seen.update((name, None) for name in _VARIABLE.findall(line))
    return ENV_HEADER + "".join(f"{name}=\n" for name in seen) + ENV_SETTINGS


def init(directory: Path, env_file: Path, *, force: bool = False) -> list[Path]:
    """Write the starter policy into ``directory`` and ``env_file``; the paths written.
    Refuses (``FileExistsError``) to overwrite anything unless ``force``."""
    starter = list(starter_files())
    targets = [directory / Path(*relative.parts) for relative, _ in starter]
    if not force:
        clashes = [path for path in [*targets, env_file] if path.exists()]
        if clashes:
            raise FileExistsError(", ".join(str(p) for p in clashes))
    written: list[Path] = []
    for target, (_, text) in zip(targets, starter, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    env_file.write_text(env_example([text for _, text in starter]), encoding="utf-8")
    written.append(env_file)
    return written
