"""What ``FaultUpstream`` says: numbered words, continued from a prefill.

A full answer is ``w1 w2 ... wN``, one word per content frame (``"w1"``, ``" w2"``, ...),
so a resumed answer can be checked for continuity: given the prefill ``"w1 w2 w3"`` (the
conversation's trailing assistant message) the fake generates ``" w4 w5 ... wN"`` only,
and its usage counts only those words. A prefill that ends in whitespace gets a
continuation without the leading space. Each word is one token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tests.support.fault_plan import DEFAULT_WORDS

_NUMBERED = re.compile(r"w(\d+)")
Finish = Literal["stop", "length", "tool"]


def expected_text(words: int = DEFAULT_WORDS, start: int = 1) -> str:
    """``w<start> ... w<words>``: what a client should read in the end."""
    return " ".join(f"w{i}" for i in range(start, words + 1))


def continuation_start(prefill: str | None) -> int:
    """The number of the first word to generate after ``prefill``."""
    found = _NUMBERED.findall(prefill or "")
    return int(found[-1]) + 1 if found else 1


@dataclass(frozen=True, slots=True)
class Answer:
    """One reply's content: the text of each content frame (a word, or a fragment of the
    tool call's JSON arguments), why it ended, and what it counts as usage."""

    pieces: tuple[str, ...]
    finish: Finish
    prompt_tokens: int
    tool: str | None = None  # the tool name when the answer is a tool call

    @property
    def completion_tokens(self) -> int:
        return len(_NUMBERED.findall(self.text))

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def make_answer(
    total: int, prefill: str | None, max_tokens: int | None, prompt_tokens: int, tool: str | None = None
) -> Answer:
    """The reply to one request: words from where ``prefill`` stopped to ``total``, at
    most ``max_tokens`` of them (then the finish is ``length``)."""
    start = 1 if tool is not None else continuation_start(prefill)
    stop = total
    finish: Finish = "tool" if tool is not None else "stop"
    if max_tokens is not None and stop - start + 1 > max_tokens:
        stop, finish = start + max_tokens - 1, "length"
    numbers = range(start, stop + 1)
    if tool is not None:
        # JSON arguments, one word per fragment: '{"text": "w1', ' w2', ' w3"}'; cut by
        # max_tokens, the JSON stays unfinished, as a real model's would
        fragments = [("" if i == start else " ") + f"w{i}" for i in numbers] or [""]
        fragments[0] = '{"text": "' + fragments[0]
        if finish != "length":
            fragments[-1] += '"}'
        return Answer(tuple(fragments), finish, prompt_tokens, tool)
    lead = "" if not prefill or prefill[-1].isspace() else " "
    pieces = tuple(f"{lead if i == start else ' '}w{i}" for i in numbers)
    return Answer(pieces, finish, prompt_tokens)
