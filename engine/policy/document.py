"""The policy document: all source files merged into one tree that knows where each key is.

Merging: the sections ``channels``, ``models``, ``aliases`` and ``groups`` collect their
entries from every file; every other top-level key (``retry``, ``breaker``, ``router``)
belongs to one file. An entry or section defined in two files is a diagnostic naming both.
``where(path)`` answers ``(file, line)`` for any key path, for diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.policy.compiled import Diagnostic
from engine.policy.locate import KeyPath, format_path
from engine.policy.sources import SourceFile

COLLECTIONS = frozenset({"channels", "models", "aliases", "groups"})


@dataclass(slots=True)
class PolicyDocument:
    data: dict[str, Any]
    files: dict[str, SourceFile]
    owners: dict[KeyPath, str]  # ("retry",) or ("channels", "openai") -> file name

    def where(self, path: Sequence[str]) -> tuple[str, int]:
        key = tuple(path)
        for end in (2, 1):
            owner = self.owners.get(key[:end]) if len(key) >= end else None
            if owner is not None:
                return owner, self.files[owner].positions.line_of(key)
        first = min(self.files) if self.files else "."
        return first, 1 if self.files else 0


def merge(sources: Sequence[SourceFile]) -> tuple[PolicyDocument, list[Diagnostic]]:
    doc = PolicyDocument(data={}, files={s.name: s for s in sources}, owners={})
    problems: list[Diagnostic] = []
    for source in sources:
        for section, value in source.data.items():
            if section in COLLECTIONS and isinstance(value, dict):
                target = doc.data.setdefault(section, {})
                if not isinstance(target, dict):
                    problems.append(_twice(doc, source, (section,)))
                    continue
                doc.owners.setdefault((section,), source.name)
                for name, entry in value.items():
                    if name in target:
                        problems.append(_twice(doc, source, (section, name)))
                        continue
                    target[name] = entry
                    doc.owners[(section, name)] = source.name
            elif section in doc.data:
                problems.append(_twice(doc, source, (section,)))
            else:
                doc.data[section] = value
                doc.owners[(section,)] = source.name
    return doc, problems


def _twice(doc: PolicyDocument, second: SourceFile, path: KeyPath) -> Diagnostic:
    first_file, first_line = doc.where(path)
    line = second.positions.line_of(path)
    message = f"defined twice: in {first_file}:{first_line} and in {second.name}:{line}"
    return Diagnostic(second.name, line, format_path(path), message)


@dataclass(slots=True)
class Problems:
    """Collects diagnostics, placing each at the file and line of its key path."""

    doc: PolicyDocument
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, path: Sequence[str], message: str, severity: Literal["error", "warning"] = "error") -> None:
        file, line = self.doc.where(path)
        self.items.append(Diagnostic(file, line, format_path(path), message, severity))

    def warn(self, path: Sequence[str], message: str) -> None:
        self.add(path, message, "warning")

    def unknown(self, path: Sequence[str], what: str, name: str, known: Iterable[str]) -> None:
        """``unknown model 'x' (known: a, b)``: every known name, sorted."""
        names = ", ".join(sorted(known)) or "none"
        self.add(path, f"unknown {what} {name!r} (known: {names})")

    @property
    def error_count(self) -> int:
        return sum(1 for d in self.items if d.severity == "error")

    @property
    def has_errors(self) -> bool:
        return self.error_count > 0
