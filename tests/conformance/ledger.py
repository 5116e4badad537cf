"""The session's record of which tests make up which matrix cell, and how each ended.

Filled by the hooks in ``conftest.py``: at collection every test marked
``conformance_cell`` is filed under its cell; every phase report is recorded by node id.
A cell passes only when every one of its tests ran in this session and passed: a failed,
xfailed, skipped or never-run test makes it fail. The README test reads the verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from tests.conformance.matrix import MARKER, Cell

Outcome = Literal["passed", "failed", "xfailed", "skipped"]
Verdict = Literal["pass", "fail", "not-run"]

_SEVERITY: dict[str, int] = {"passed": 0, "skipped": 1, "xfailed": 2, "failed": 3}


@dataclass(slots=True)
class Ledger:
    tests: dict[Cell, set[str]] = field(default_factory=dict)  # cell -> node ids
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # node id -> worst phase outcome
    xfail_reasons: dict[str, str] = field(default_factory=dict)  # node id -> declared defect

    def file(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker(MARKER)
        if marker is None:
            return
        callspec = getattr(item, "callspec", None)
        if callspec is None or "pair" not in callspec.params:
            raise pytest.UsageError(f"{item.nodeid}: a {MARKER} test must be parametrized over 'pair'")
        client, upstream = callspec.params["pair"]
        self.tests.setdefault(Cell(client, upstream, str(marker.args[0])), set()).add(item.nodeid)

    def record(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.outcome != "passed":
            outcome: Outcome
            if hasattr(report, "wasxfail"):
                self.xfail_reasons[report.nodeid] = str(report.wasxfail)
                outcome = "xfailed" if report.outcome == "skipped" else "failed"
            else:
                outcome = report.outcome
            previous = self.outcomes.get(report.nodeid)
            if previous is None or _SEVERITY[outcome] > _SEVERITY[previous]:
                self.outcomes[report.nodeid] = outcome

    def verdict(self, cell: Cell) -> Verdict:
        tests = self.tests.get(cell)
        if not tests:
            return "not-run"
        outcomes = [self.outcomes.get(nodeid) for nodeid in tests]
        if any(o is None for o in outcomes):
            return "not-run"
        return "pass" if all(o == "passed" for o in outcomes) else "fail"

    def defects(self, cell: Cell) -> list[str]:
        """The declared defects (xfail reasons) of the cell's tests that xfailed."""
        return sorted({self.xfail_reasons[n] for n in self.tests.get(cell, set()) if self.outcomes.get(n) == "xfailed"})

    def missing(self, cell: Cell) -> list[str]:
        return sorted(n for n in self.tests.get(cell, set()) if n not in self.outcomes)


LEDGER_KEY = pytest.StashKey[Ledger]()


def ledger_of(config: pytest.Config) -> Ledger:
    if LEDGER_KEY not in config.stash:
        config.stash[LEDGER_KEY] = Ledger()
    return config.stash[LEDGER_KEY]
