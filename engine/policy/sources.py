"""The policy's source files: find every ``*.toml`` under the directory and parse it.

Policy tests live beside the policy and are not policy: a ``*.toml`` file whose name ends
in ``.test.toml``, or that lies inside a directory named ``tests``, is a test file
(``is_test_file``). ``find_files`` lists the policy files, ``find_test_files`` the others.
A canary's candidate lives under ``canary/`` (``is_canary_file``): those files are neither
policy nor tests of the stable policy; ``find_canary_files`` lists them (``engine.policy.load``
puts each in place of the stable file of the same name).

Files are found recursively through visible names only: names starting with ``.`` are
skipped, which covers hidden directories and the ``..2026_...``/``..data`` entries of a
Kubernetes ConfigMap volume (its files are read through the visible symlinks instead, so
none is read twice). Symlinked directories are followed once each.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.policy.compiled import Diagnostic
from engine.policy.locate import Positions, locate

_TOML_POSITION = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$")
_TOML_AT_END = re.compile(r"^(.*) \(at end of document\)$")
TEST_SUFFIX = ".test.toml"
TESTS_DIR = "tests"
CANARY_DIR = "canary"


@dataclass(frozen=True, slots=True)
class SourceFile:
    name: str  # path relative to the policy directory, with "/" separators
    data: dict[str, Any]
    positions: Positions


def is_test_file(name: str) -> bool:
    """True for a policy test file: ``*.test.toml``, or any ``*.toml`` under a ``tests/``
    directory (``name`` relative to the policy directory, with ``/`` separators)."""
    *folders, base = name.split("/")
    return base.endswith(TEST_SUFFIX) or TESTS_DIR in folders


def is_canary_file(name: str) -> bool:
    """True for a file of the canary's candidate: anything under the top ``canary/`` directory."""
    return name.startswith(CANARY_DIR + "/")


def find_files(directory: Path) -> list[tuple[str, Path]]:
    """(relative name, path) of every visible policy ``*.toml`` under ``directory``, sorted."""
    return [(n, p) for n, p in _toml_files(directory) if not is_test_file(n) and not is_canary_file(n)]


def find_test_files(directory: Path) -> list[tuple[str, Path]]:
    """(relative name, path) of every visible policy test file under ``directory``, sorted."""
    return [(n, p) for n, p in _toml_files(directory) if is_test_file(n) and not is_canary_file(n)]


def find_canary_test_files(directory: Path) -> list[tuple[str, Path]]:
    """(relative name, path) of the candidate's test files (``canary/tests/...``), sorted."""
    return [(n, p) for n, p in _toml_files(directory) if is_canary_file(n) and is_test_file(n)]


def find_canary_files(directory: Path) -> list[tuple[str, Path]]:
    """(relative name, path) of the candidate's policy files (``canary/...``), sorted."""
    return [(n, p) for n, p in _toml_files(directory) if is_canary_file(n) and not is_test_file(n)]


def _toml_files(directory: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    seen_dirs: set[str] = set()
    for root, dirs, files in os.walk(directory, followlinks=True):
        real = os.path.realpath(root)
        if real in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or not name.endswith(".toml"):
                continue
            path = Path(root) / name
            if not path.is_dir():  # a broken symlink is kept: reading it reports the problem
                found.append((path.relative_to(directory).as_posix(), path))
    return sorted(found)


def read_sources(directory: Path) -> tuple[list[SourceFile], list[Diagnostic]]:
    """Parse every policy file; a file that cannot be read or parsed is a diagnostic."""
    if not directory.is_dir():
        return [], [Diagnostic(".", 0, "policy", "the policy directory does not exist")]
    files = find_files(directory)
    if not files:
        return [], [Diagnostic(".", 0, "policy", "no *.toml files in the policy directory")]
    return read_files(files)


def read_files(files: list[tuple[str, Path]]) -> tuple[list[SourceFile], list[Diagnostic]]:
    """Parse each (relative name, path); a file that cannot be read or parsed is a diagnostic."""
    sources: list[SourceFile] = []
    problems: list[Diagnostic] = []
    for name, path in files:
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Diagnostic(name, 1, "file", f"cannot read: {exc}"))
            continue
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problems.append(_syntax_problem(name, text, str(exc)))
            continue
        sources.append(SourceFile(name, data, locate(text)))
    return sources, problems


def _syntax_problem(name: str, text: str, message: str) -> Diagnostic:
    at = _TOML_POSITION.match(message)
    if at is not None:
        detail = f"invalid TOML: {at.group(1)} (column {at.group(3)})"
        return Diagnostic(name, int(at.group(2)), "syntax", detail)
    end = _TOML_AT_END.match(message)
    last_line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    detail = end.group(1) if end is not None else message
    return Diagnostic(name, last_line, "syntax", f"invalid TOML: {detail} (at end of file)")
