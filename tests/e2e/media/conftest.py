"""Fixtures of the embeddings and images end-to-end tests: an OpenAI-format and a
Gemini-format fake upstream per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_upstream import FakeUpstream


@pytest.fixture(scope="module")
def oai() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def gem() -> Iterator[FakeUpstream]:
    with FakeUpstream(prefix="/v1beta") as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(oai: FakeUpstream, gem: FakeUpstream) -> None:
    oai.reset()
    gem.reset()
