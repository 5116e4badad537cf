"""How long an OpenAI(-compatible) upstream asks us to wait, from its response headers.

Checked in order: ``retry-after-ms`` (milliseconds), ``retry-after`` (seconds or an HTTP
date), then ``x-ratelimit-reset-requests`` / ``x-ratelimit-reset-tokens`` (Go-style
durations such as ``1s``, ``6m0s``, ``20ms``). Of the two reset headers, the ones whose
``x-ratelimit-remaining-*`` is 0 are the limits that were hit; if neither says so, the
longer wait is taken.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait (never negative), or None when the headers do not say."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = _number(lower.get("retry-after-ms"))
    if ms is not None:
        return max(ms / 1000.0, 0.0)
    value = lower.get("retry-after")
    if value is not None:
        seconds = _number(value)
        if seconds is not None:
            return max(seconds, 0.0)
        when = _http_date(value)
        if when is not None:
            return max(when - (time.time() if now is None else now), 0.0)
    resets: list[float] = []
    hit: list[float] = []
    for kind in ("requests", "tokens"):
        reset = _duration(lower.get(f"x-ratelimit-reset-{kind}"))
        if reset is None:
            continue
        resets.append(reset)
        if lower.get(f"x-ratelimit-remaining-{kind}", "").strip() == "0":
            hit.append(reset)
    chosen = hit or resets
    return max(chosen) if chosen else None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _duration(value: str | None) -> float | None:
    if not value:
        return None
    text = value.strip()
    plain = _number(text)
    if plain is not None:
        return max(plain, 0.0)
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    return total if pos == len(text) and pos > 0 else None
