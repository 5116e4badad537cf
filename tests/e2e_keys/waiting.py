"""Polling with a deadline for what the gateway does in the background (usage and charge
flushes, key revocation on another replica). Only the generous deadline is asserted."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], *, timeout: float = 5.0, interval: float = 0.02, what: str = "") -> T:
    """Call ``probe`` until it returns something other than None (or False); return that.
    Raise ``AssertionError`` naming ``what`` when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or probe}")
        time.sleep(interval)
