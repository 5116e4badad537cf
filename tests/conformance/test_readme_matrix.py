"""The README's conformance matrix is this session's results, not a claim.

Runs after every matrix cell (see ``conftest.py``). A cell shows ✅ (or 🚫 for a declared
by-design refusal) only if every one of its tests ran in this session and passed; a
failed, xfailed or skipped test shows ❌. When cells did not run (a partial selection)
nothing can be vouched for and the test fails. ``TURNOUT_UPDATE_README=1`` rewrites the
block instead of comparing.
"""

from __future__ import annotations

import os

import pytest

from tests.conformance.ledger import ledger_of
from tests.conformance.matrix import NOT_EXPRESSIBLE, REPORT_MARKER, all_cells
from tests.conformance.readme_block import (
    README,
    CellResult,
    read_block,
    render,
    replace_block,
)

RUNS_LAST: pytest.MarkDecorator = getattr(pytest.mark, REPORT_MARKER)


@RUNS_LAST
def test_readme_matrix_is_this_runs_results(request: pytest.FixtureRequest) -> None:
    ledger = ledger_of(request.config)
    cells = [c for c in all_cells() if (c.client, c.capability) not in NOT_EXPRESSIBLE]
    not_run = [c for c in cells if ledger.verdict(c) == "not-run"]
    if not_run:
        names = ", ".join(f"{c.client}->{c.upstream}/{c.capability}" for c in not_run[:8])
        pytest.fail(
            f"{len(not_run)} matrix cells did not run completely in this session ({names}...): "
            "run the whole tests/conformance directory to check the README matrix"
        )
    results = {c: CellResult(ledger.verdict(c) == "pass", tuple(ledger.defects(c))) for c in cells}
    block = render(results)
    text = README.read_text(encoding="utf-8")
    if os.environ.get("TURNOUT_UPDATE_README") == "1":
        README.write_text(replace_block(text, block), encoding="utf-8")
        return
    assert read_block(text) == block, (
        "README.md's conformance matrix disagrees with this run; "
        "refresh it with TURNOUT_UPDATE_README=1 pytest tests/conformance"
    )
