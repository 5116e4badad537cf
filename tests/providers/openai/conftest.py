"""Fixtures for the OpenAI wire-format tests: the recorded streams and bodies in
``tests/fixtures/openai`` (see its SOURCES.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from providers.base import Endpoint

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai"


def load_stream(name: str) -> bytes:
    """A recorded stream as the raw SSE bytes the upstream sent."""
    path = FIXTURES / "chat-stream" / name
    if name.endswith(".chunks.txt"):  # one data payload per line, [DONE] not recorded
        lines = path.read_bytes().splitlines()
        return b"".join(b"data: " + line + b"\n\n" for line in lines if line) + b"data: [DONE]\n\n"
    return path.read_bytes()


@pytest.fixture
def recording() -> Callable[[str], bytes]:
    return load_stream


@pytest.fixture
def fixture_bytes() -> Callable[[str], bytes]:
    return lambda name: (FIXTURES / name).read_bytes()


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint(
        channel="openai-main",
        format="openai",
        base_url="https://api.openai.com/v1",
        api_key="sk-test-secret-key-0123456789",
        upstream_model="gpt-4o-2024-08-06",
    )
