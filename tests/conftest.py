"""Fixtures shared by every test directory (keep it small: area-specific fixtures live
in the area's own conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_upstream import FakeUpstream


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    """A running fake OpenAI-compatible upstream (scriptable; see tests.support)."""
    with FakeUpstream() as fake:
        yield fake
