"""Metric label values, bounded: every value is a name the policy defines, a member of a
small fixed set, or ``other``/empty. Nothing a client sends (an unknown model string, a
key, a header) ever becomes a label, so the number of series stays bounded by the policy.
Pure functions.
"""

from __future__ import annotations

from collections.abc import Container
from typing import get_args

from engine.errors import FailureKind
from engine.routing.outcome import AttemptRecord

OTHER = "other"
NONE = ""  # no alias (a concrete model was asked for), or nothing was served

# How an attempt ended, as a label: its failure kind (``engine.errors.FailureKind``), or
# one of the executor's own endings.
ATTEMPT_OUTCOMES = frozenset({"ok", "hedge_lost", "cancelled", "client_gone", *get_args(FailureKind)})


def bounded(value: str | None, allowed: Container[str]) -> str:
    """``value`` when it is one of ``allowed``, empty when there is none, else ``other``."""
    if not value:
        return NONE
    return value if value in allowed else OTHER


def status_label(status: int) -> str:
    """An HTTP status code as a label (``other`` outside 100-599)."""
    return str(status) if 100 <= status <= 599 else OTHER


def attempt_outcome(record: AttemptRecord) -> str:
    """How one upstream attempt ended, from a fixed set."""
    if record.ended == "ok":
        return "ok"
    if record.ended in ("hedge_lost", "cancelled", "client_gone"):
        return record.ended
    return bounded(record.failure or record.ended, ATTEMPT_OUTCOMES)
