"""Parsing the times users type: durations (``30d``, ``12h``) and ISO dates or datetimes.

A bare date means 00:00 UTC that day; a datetime without an offset is taken as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta | None:
    """``"30d"`` -> 30 days; None when ``text`` is not a duration."""
    match = _DURATION.match(text)
    if match is None:
        return None
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_instant(text: str) -> datetime:
    """An ISO date (``2025-12-31``) or datetime (``2025-12-31T12:00:00+02:00``) as aware UTC."""
    cleaned = text.strip()
    try:
        if len(cleaned) == 10:
            day = date.fromisoformat(cleaned)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"not a date or time: {text!r} (expected e.g. 2025-12-31 or 2025-12-31T12:00:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_future(text: str, now: datetime) -> datetime:
    """An expiry: a duration from ``now`` (``30d``) or an absolute date/datetime."""
    delta = parse_duration(text)
    return now + delta if delta is not None else parse_instant(text)


def parse_past(text: str, now: datetime) -> datetime:
    """A lower bound such as ``--since 7d`` (7 days before ``now``) or an absolute date/datetime."""
    delta = parse_duration(text)
    return now - delta if delta is not None else parse_instant(text)
