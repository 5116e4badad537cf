"""Printing helpers shared by the benchmarks: the machine line, budget verdicts."""

from __future__ import annotations

import os
import platform


def machine_line() -> str:
    load = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other work on the box skews the numbers)"
    )


def verdict(ok: bool) -> str:
    return "within budget" if ok else "OVER BUDGET"


def budget_line(label: str, value: str, budget: str, ok: bool) -> str:
    return f"  {label:<44} {value:>14}   budget {budget:<16} {verdict(ok)}"
