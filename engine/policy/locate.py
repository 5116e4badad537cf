"""Where each key of a TOML file is written: a small position scanner.

``tomllib`` parses but gives no positions, so diagnostics need this second, tolerant pass
over text that ``tomllib`` already accepted. ``locate(text)`` maps every key path to the
1-based line where it is written::

    [aliases.smart-code]
    rules = [
      { when = "request.has_tools", use = ["gpt-5.5"] },   # ("aliases", "smart-code", "rules", "0", "when")
    ]

Array elements are addressed by their 0-based index as a string, and each element of an
array of tables (``[[x]]``) by its index too. Handles table headers, dotted keys, quoted
keys, inline tables, multi-line arrays, every string form and comments.
``format_path`` renders a path the way diagnostics print it (``models."gpt-4.1-mini".price``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

KeyPath = tuple[str, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "e": "\x1b", '"': '"', "\\": "\\"}


def format_path(path: Sequence[str]) -> str:
    """``("models", "gpt-4.1-mini", "price")`` -> ``models."gpt-4.1-mini".price``."""
    parts = [p if _BARE_KEY.fullmatch(p) else '"' + p.replace('"', '\\"') + '"' for p in path]
    return ".".join(parts)


@dataclass(frozen=True, slots=True)
class Positions:
    """Key path -> line for one file."""

    lines: Mapping[KeyPath, int]

    def line_of(self, path: Sequence[str]) -> int:
        """The line of ``path``, or of its nearest written ancestor (1 when none is)."""
        probe = tuple(path)
        while probe:
            line = self.lines.get(probe)
            if line is not None:
                return line
            probe = probe[:-1]
        return 1


def locate(text: str) -> Positions:
    """Scan TOML ``text`` (already known to parse) and return where every key path is."""
    return Positions(_Scanner(text).run())


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[KeyPath, int] = {}
        self.table: KeyPath = ()
        self.aot_counts: dict[KeyPath, int] = {}  # resolved array-of-tables path -> elements
        self.newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    # -- low-level -----------------------------------------------------------------------

    def line(self) -> int:
        return bisect_right(self.newlines, self.pos - 1) + 1

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_ws(self) -> None:
        while not self.at_end() and self.text[self.pos] in " \t":
            self.pos += 1

    def skip_ws_comments_newlines(self) -> None:
        while not self.at_end():
            ch = self.text[self.pos]
            if ch in " \t\r\n":
                self.pos += 1
            elif ch == "#":
                self.skip_comment()
            else:
                return

    def skip_comment(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    # -- document ------------------------------------------------------------------------

    def run(self) -> dict[KeyPath, int]:
        while True:
            self.skip_ws_comments_newlines()
            if self.at_end():
                return self.lines
            if self.peek() == "[":
                self.header()
            else:
                self.key_value(self.table)

    def header(self) -> None:
        line = self.line()
        is_aot = self.peek(2) == "[["
        self.pos += 2 if is_aot else 1
        self.skip_ws()
        written = self.key()
        self.skip_ws()
        self.pos += 2 if is_aot else 1
        if is_aot:
            resolved = (*self.resolve(written[:-1]), written[-1])
            index = self.aot_counts.get(resolved, 0)
            self.aot_counts[resolved] = index + 1
            self.record(resolved, line)
            resolved = (*resolved, str(index))
        else:
            resolved = self.resolve(written)
        self.record_prefixes(resolved, line)
        self.table = resolved

    def resolve(self, written: KeyPath) -> KeyPath:
        """Insert the current element index after every array-of-tables prefix."""
        out: list[str] = []
        for part in written:
            out.append(part)
            count = self.aot_counts.get(tuple(out))
            if count:
                out.append(str(count - 1))
        return tuple(out)

    def record_prefixes(self, path: KeyPath, line: int) -> None:
        for end in range(1, len(path) + 1):
            self.record(path[:end], line)

    def key_value(self, base: KeyPath) -> None:
        line = self.line()
        written = self.key()
        path = (*base, *written)
        for end in range(len(base) + 1, len(path) + 1):
            self.record(path[:end], line)
        self.skip_ws()
        self.pos += 1  # '='
        self.skip_ws()
        self.value(path)

    # -- keys ----------------------------------------------------------------------------

    def key(self) -> KeyPath:
        parts = [self.simple_key()]
        while True:
            self.skip_ws()
            if self.peek() != ".":
                return tuple(parts)
            self.pos += 1
            self.skip_ws()
            parts.append(self.simple_key())

    def simple_key(self) -> str:
        ch = self.peek()
        if ch == '"':
            return self.basic_string()
        if ch == "'":
            return self.literal_string()
        match = _BARE_KEY.match(self.text, self.pos)
        if match is None:
            raise ValueError(f"not a key at line {self.line()}")
        self.pos = match.end()
        return match.group()

    # -- values --------------------------------------------------------------------------

    def value(self, path: KeyPath) -> None:
        ch = self.peek()
        if ch == "{":
            self.inline_table(path)
        elif ch == "[":
            self.array(path)
        elif ch in "\"'":
            self.string()
        else:
            self.scalar()

    def inline_table(self, path: KeyPath) -> None:
        self.pos += 1
        while True:
            self.skip_ws_comments_newlines()
            ch = self.peek()
            if ch == "}" or not ch:
                self.pos += 1
                return
            if ch == ",":
                self.pos += 1
                continue
            self.key_value(path)

    def array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip_ws_comments_newlines()
            ch = self.peek()
            if ch == "]" or not ch:
                self.pos += 1
                return
            if ch == ",":
                self.pos += 1
                continue
            element = (*path, str(index))
            self.record(element, self.line())
            self.value(element)
            index += 1

    def scalar(self) -> None:
        while not self.at_end() and self.text[self.pos] not in ",]}\n#":
            self.pos += 1

    def string(self) -> None:
        if self.peek(3) in ('"""', "'''"):
            delim = self.peek(3)
            end = self.multiline_end(delim)
            self.pos = end
        elif self.peek() == '"':
            self.basic_string()
        else:
            self.literal_string()

    def multiline_end(self, delim: str) -> int:
        """Position just after the closing delimiter (which may be followed by quotes)."""
        pos = self.pos + 3
        while True:
            found = self.text.find(delim, pos)
            if found < 0:
                return len(self.text)
            if delim == '"""' and _escaped(self.text, found):
                pos = found + 1
                continue
            end = found + 3
            while self.text[end : end + 1] == delim[0] and end - found < 5:
                end += 1
            return end

    def literal_string(self) -> str:
        end = self.text.find("'", self.pos + 1)
        end = len(self.text) if end < 0 else end
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def basic_string(self) -> str:
        self.pos += 1
        out: list[str] = []
        while not self.at_end():
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                break
            if ch == "\\":
                out.append(self.escape())
                continue
            out.append(ch)
            self.pos += 1
        return "".join(out)

    def escape(self) -> str:
        code = self.text[self.pos + 1 : self.pos + 2]
        if code in ("u", "U"):
            width = 4 if code == "u" else 8
            digits = self.text[self.pos + 2 : self.pos + 2 + width]
            self.pos += 2 + width
            return chr(int(digits, 16))
        if code == "x":
            digits = self.text[self.pos + 2 : self.pos + 4]
            self.pos += 4
            return chr(int(digits, 16))
        self.pos += 2
        return _ESCAPES.get(code, code)


def _escaped(text: str, index: int) -> bool:
    """True when the character at ``index`` is preceded by an odd number of backslashes."""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1
