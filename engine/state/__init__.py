"""Turnout's state: API keys, accounts and the ledger, the usage log and rate limits.

Embedded by default (SQLite in the data dir, in-process limits); PostgreSQL + Redis for
replicas. Start with ``open_state``; its ``State.gate`` is the ``engine.access.Gate``.
"""

from engine.state.errors import StateConfigError
from engine.state.gate import DatabaseGate
from engine.state.state import State, Tuning, open_state

__all__ = ["DatabaseGate", "State", "StateConfigError", "Tuning", "open_state"]
