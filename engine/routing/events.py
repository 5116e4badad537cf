"""What the executor tells an observer as a request moves through its candidates: a retry
of the same candidate, a fallback to a later one after a failure, a hedge that started a
racer, a resume that continued a cut stream. Called only when one happens (never on the
plain path); ``NO_EVENTS`` ignores them all."""

from __future__ import annotations

from typing import Protocol

from engine.routing.plan import Attempt, Plan


class RoutingEvents(Protocol):
    def retried(self, plan: Plan, attempt: Attempt) -> None: ...

    def fell_back(self, plan: Plan, attempt: Attempt) -> None: ...

    def hedged(self, plan: Plan, attempt: Attempt) -> None: ...

    def resumed(self, plan: Plan, attempt: Attempt) -> None: ...


class _NoEvents:
    def retried(self, plan: Plan, attempt: Attempt) -> None:
        return None

    def fell_back(self, plan: Plan, attempt: Attempt) -> None:
        return None

    def hedged(self, plan: Plan, attempt: Attempt) -> None:
        return None

    def resumed(self, plan: Plan, attempt: Attempt) -> None:
        return None


NO_EVENTS: RoutingEvents = _NoEvents()
