"""Turnout's state: API keys, accounts and the ledger, the usage log and rate limits.

Embedded by default (SQLite in the data dir, in-process limits); PostgreSQL + Redis for
replicas. Start with ``open_state``; its ``State.gate`` is the ``engine.access.Gate``.

The names below load on first use (PEP 562), so importing a light submodule (the CLI's
parsers, the errors) does not load the database drivers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.state.errors import StateConfigError
    from engine.state.gate import DatabaseGate
    from engine.state.state import State, Tuning, open_state

__all__ = ["DatabaseGate", "State", "StateConfigError", "Tuning", "open_state"]

_HOMES = {
    "DatabaseGate": "engine.state.gate",
    "State": "engine.state.state",
    "StateConfigError": "engine.state.errors",
    "Tuning": "engine.state.state",
    "open_state": "engine.state.state",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engine.state' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
