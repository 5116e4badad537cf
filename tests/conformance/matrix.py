"""The conformance matrix's axes: client formats, upstream formats, capabilities, and the
cells declared unsupported by design.

A cell is one (client format, upstream format, capability). Every test of a cell carries
``@cell_test("<capability>")`` and is parametrized over ``PAIRS`` (argument ``pair``), so
the session ledger (``ledger.py``) knows which tests make up which cell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

CLIENTS: tuple[str, ...] = ("openai", "openai-responses", "anthropic", "gemini")
UPSTREAMS: tuple[str, ...] = ("openai", "openai-responses", "anthropic", "gemini")

CLIENT_TITLES: dict[str, str] = {
    "openai": "OpenAI Chat Completions client (`POST /v1/chat/completions`)",
    "openai-responses": "OpenAI Responses client (`POST /v1/responses`)",
    "anthropic": "Anthropic Messages client (`POST /v1/messages`)",
    "gemini": "Gemini client (`:generateContent` / `:streamGenerateContent`)",
}
UPSTREAM_TITLES: dict[str, str] = {
    "openai": "→ openai",
    "openai-responses": "→ openai-responses",
    "anthropic": "→ anthropic",
    "gemini": "→ gemini",
}

# capability id -> the row label in the README
CAPABILITIES: dict[str, str] = {
    "text": "text",
    "streamed-text": "streamed text",
    "tools": "tool call",
    "parallel-tools": "parallel tool calls",
    "streamed-tool-args": "streamed tool arguments",
    "tool-results": "tool results",
    "images": "images (data URL)",
    "system": "system prompt",
    "usage": "usage (streamed = non-streamed)",
    "stop-reasons": "stop reasons",
    "stop-sequences": "stop sequences",
    "upstream-error": "upstream error",
    "midstream-error": "mid-stream upstream error",
}


@dataclass(frozen=True, slots=True, order=True)
class Cell:
    client: str
    upstream: str
    capability: str


# Cells a pair cannot honour by design: (client, upstream, capability) -> the feature the
# gateway's 400 must name. Their tests assert that 400 instead of the behaviour.
UNSUPPORTED: dict[tuple[str, str, str], str] = {
    # The Responses API has no stop sequences: refused, never dropped.
    **{(client, "openai-responses", "stop-sequences"): "stop" for client in CLIENTS if client != "openai-responses"},
}

# Capabilities a client format cannot even express: (client, capability) -> why. These
# cells have no test and show as "n/a".
NOT_EXPRESSIBLE: dict[tuple[str, str], str] = {
    ("openai-responses", "stop-sequences"): "a Responses request has no stop-sequence field",
}

PAIRS: list[tuple[str, str]] = [(client, upstream) for client in CLIENTS for upstream in UPSTREAMS]

MARKER = "conformance_cell"
REPORT_MARKER = "conformance_report"  # runs after every cell and reads the ledger

F = TypeVar("F", bound=Callable[..., Any])


def cell_test(capability: str, defects: Mapping[tuple[str, str], str] | None = None) -> Callable[[F], F]:
    """Mark a test as (part of) the ``capability`` row and parametrize it over every pair
    whose client format can express the capability. ``defects`` maps a pair to the precise
    known defect that makes an assertion fail (strict xfail: the cell shows as failing
    until it is fixed, and any other error is still an error)."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")
    known = dict(defects or {})
    unknown = set(known) - set(PAIRS)
    if unknown:
        raise ValueError(f"defects name unknown pairs: {sorted(unknown)}")
    params = [
        pytest.param(
            pair,
            id=f"{pair[0]}->{pair[1]}",
            marks=[pytest.mark.xfail(strict=True, raises=AssertionError, reason=known[pair])] if pair in known else [],
        )
        for pair in PAIRS
        if (pair[0], capability) not in NOT_EXPRESSIBLE
    ]

    def wrap(function: F) -> F:
        marked = pytest.mark.parametrize("pair", params)(function)
        result: F = getattr(pytest.mark, MARKER)(capability)(marked)
        return result

    return wrap


def unsupported_feature(client: str, upstream: str, capability: str) -> str | None:
    return UNSUPPORTED.get((client, upstream, capability))


def all_cells() -> list[Cell]:
    return [Cell(c, u, cap) for c in CLIENTS for u in UPSTREAMS for cap in CAPABILITIES]
