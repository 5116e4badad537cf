"""Policy directories for tests: write a policy TOML the way an operator would."""

from __future__ import annotations

import os
from pathlib import Path


def write_policy(directory: Path, toml_text: str, name: str = "policy.toml", *, atomic: bool = True) -> Path:
    """Write ``toml_text`` to ``directory/name`` (creating the directory) and return the
    file. ``atomic`` writes a sibling temp file and renames it over the target, as most
    editors and config-management tools do, so a watcher never sees half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if not atomic:
        target.write_text(toml_text, encoding="utf-8")
        return target
    temp = directory / f".{name}.tmp"
    temp.write_text(toml_text, encoding="utf-8")
    os.replace(temp, target)
    return target
