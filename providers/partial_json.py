"""The object a JSON text cut short was building: what an output cap leaves of tool-call
arguments.

When a model hits its output cap in the middle of a tool call, the arguments stop mid-JSON
(``{"filename": "taxes.txt", "lines": ["# Guide", "Fil``). Anthropic's API and SDK show
such a call with the input parsed so far; ``complete_prefix`` gives the same: the
longest prefix that ends after a whole value, with its open arrays and objects closed
(``{"filename": "taxes.txt", "lines": ["# Guide"]}``). A string, number or literal that
was still being written is left out, never guessed at.

Pure.
"""

from __future__ import annotations

from typing import Any

import orjson

_CLOSER = {"{": "}", "[": "]"}
_DELIMITERS = frozenset(",:]} \t\r\n")


def complete_prefix(text: str) -> dict[str, Any] | None:
    """The object ``text`` (a JSON object, whole or cut short) holds; None when it does not
    start as an object."""
    try:
        whole = orjson.loads(text)
    except orjson.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        return whole
    cut = _last_whole_value(text)
    if cut is None:
        return None
    try:
        value = orjson.loads(cut)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _last_whole_value(text: str) -> str | None:
    """The prefix up to the last place a value (or an opening bracket) ended, closed."""
    stack: list[str] = []
    expect_key = False  # inside an object, before a key
    best: tuple[int, str] | None = None
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n:":
            i += 1
        elif ch == '"':
            end = _string_end(text, i)
            if end is None:
                break
            i = end
            if stack and stack[-1] == "{" and expect_key:
                expect_key = False  # a key: the value is still to come
            else:
                best = (i, _closers(stack))
        elif ch in _CLOSER:
            if not stack and best is not None:
                break  # a second top-level value: not an object's text
            stack.append(ch)
            expect_key = ch == "{"
            i += 1
            best = (i, _closers(stack))
        elif ch in "]}":
            if not stack or _CLOSER[stack.pop()] != ch:
                return None
            expect_key = False
            i += 1
            best = (i, _closers(stack))
            if not stack:  # the object closed: whatever follows makes it no object's text
                return text[:i] if not text[i:].strip() else None
        elif ch == ",":
            expect_key = bool(stack) and stack[-1] == "{"
            i += 1
        else:  # a number or a literal: whole only once a delimiter follows it
            end = i
            while end < n and text[end] not in _DELIMITERS:
                end += 1
            if end == n:
                break
            i = end
            best = (i, _closers(stack))
    if best is None:
        return None
    at, closers = best
    return text[:at] + closers


def _string_end(text: str, start: int) -> int | None:
    """The index after the string that opens at ``start``; None when it never closes."""
    i = start + 1
    while True:
        quote = text.find('"', i)
        if quote == -1:
            return None
        backslashes = 0
        while text[quote - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return quote + 1
        i = quote + 1


def _closers(stack: list[str]) -> str:
    return "".join(_CLOSER[opened] for opened in reversed(stack))
