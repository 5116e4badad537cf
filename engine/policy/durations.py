"""Durations and stream-buffer settings as written in a policy. Pure.

A duration is a number of seconds (``1.5``) or a string with a unit: ``"500ms"``,
``"1.5s"``, ``"2m"``, ``"1h"``. ``stream_buffer`` is ``"none"``, a duration, or ``"full"``; it
compiles to seconds held (0 for none, infinity for full).
"""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
BUFFER_NONE = 0.0
BUFFER_FULL = math.inf


def parse_duration(value: object) -> float | None:
    """Seconds, or None when ``value`` is not a duration (a bool is not one)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 and math.isfinite(value) else None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT[match.group(2)]
    return None


def parse_stream_buffer(value: object) -> float | None:
    """Seconds of output held back: 0 for ``"none"``, infinity for ``"full"``; None when
    ``value`` is neither those nor a duration."""
    if value == "none":
        return BUFFER_NONE
    if value == "full":
        return BUFFER_FULL
    return parse_duration(value)


def describe_buffer(seconds: float) -> str:
    if seconds == BUFFER_NONE:
        return "none"
    if math.isinf(seconds):
        return "full"
    return f"{seconds:g}s"
