"""The progress bar: drawn on a terminal only, cleared before the report, fed every 1,000 requests."""

from __future__ import annotations

import io

from engine.replay.progress import Progress
from engine.replay.replan import recorded_outcome
from engine.replay.report import Report, compare
from tests.replay.builders import recorded


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_bar_and_then_a_cleared_line() -> None:
    screen = Terminal()
    bar = Progress(4000, screen)
    compare([recorded(f"r{i}") for i in range(4000)], recorded_outcome, recorded_outcome, Report("a", "b"), bar.update)
    bar.close()
    frames = screen.getvalue().split("\r")[1:]
    assert frames[:4] == [
        "replaying [#######-----------------------] 1000/4000",
        "replaying [###############---------------] 2000/4000",
        "replaying [######################--------] 3000/4000",
        "replaying [##############################] 4000/4000",
    ]
    assert frames[4] == "\x1b[K"


def test_a_pipe_sees_nothing() -> None:
    piped = io.StringIO()
    bar = Progress(4000, piped)
    bar.update(1000)
    bar.close()
    assert piped.getvalue() == ""
