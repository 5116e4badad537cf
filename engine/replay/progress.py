"""A one-line progress bar on stderr for long replays, drawn only when stderr is a terminal."""

from __future__ import annotations

from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, total: int, stream: TextIO, label: str = "replaying") -> None:
        self._total = total
        self._stream = stream
        self._label = label
        self._shown = stream.isatty() and total > 0

    def update(self, done: int) -> None:
        if not self._shown:
            return
        filled = WIDTH * min(done, self._total) // self._total
        bar = "#" * filled + "-" * (WIDTH - filled)
        self._stream.write(f"\r{self._label} [{bar}] {done}/{self._total}")
        self._stream.flush()

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")  # clear the line: the report follows on stdout
            self._stream.flush()
