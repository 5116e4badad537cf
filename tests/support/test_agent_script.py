"""The agent script's pure parts: tool matching, streaming pieces, token estimates."""

from __future__ import annotations

import pytest

from tests.support.agent_script import estimate_tokens, pick_tool, split


@pytest.mark.parametrize(
    ("declared", "picked"),
    [
        (["Read", "Bash"], "Bash"),
        (["mcp__shell__Bash", "Bash"], "Bash"),  # the exact name wins
        (["BashOutput", "tools.Bash"], "tools.Bash"),  # a suffix only after a separator
        (["ns__Bash", "x_Bash"], "ns__Bash"),  # "__" before the single "_"
        (["BashOutput", "MyBash"], None),
        ([], None),
    ],
)
def test_pick_tool(declared: list[str], picked: str | None) -> None:
    assert pick_tool("Bash", declared) == picked


@pytest.mark.parametrize(("text", "count", "pieces"), [("abcdefghij", 4, 4), ("ab", 4, 2), ("", 4, 1), ("abc", 1, 1)])
def test_split_keeps_the_text_in_non_empty_pieces(text: str, count: int, pieces: int) -> None:
    got = split(text, count)
    assert "".join(got) == text and len(got) == pieces
    assert all(got) or got == ("",)


def test_gemini_count_tokens_counts_a_wrapped_request_like_the_request_itself() -> None:
    request = {"contents": [{"parts": [{"text": "x" * 400}]}], "tools": [{"functionDeclarations": [{"name": "Bash"}]}]}
    wrapped = {"generateContentRequest": {"model": "models/g", **request}}
    assert estimate_tokens("gemini", wrapped) == estimate_tokens("gemini", request) > 100
