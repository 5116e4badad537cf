"""The canary monitor of one worker: whether the current canary still serves, and the loop
that decides its rollback.

Every ``check_every`` each worker reads the rollback record of the current canary version
from the shared store (``turnout_meta``, ``canary_rollback:<version>``); when there is none
it reads both sides' statistics of the last ``window`` (``engine.canary.window``) and
evaluates the policy's ``rollback`` condition. The first worker that sees it hold stores the
record (once: later writers read the stored one), and every worker, on this replica or
another, stops sending requests to that version when it reads it, at most one
``check_every`` later. A rolled-back version stays rolled back until ``turnout canary reset``
removes its record (every worker then serves it again); a changed candidate is a new
version and a new canary. Without a state store there is no shared usage log: the canary
serves, and the status says it is not monitored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.canary.stats import SideStats, rollback_holds
from engine.canary.window import window_stats
from engine.policy.compiled import CanarySpec, CelEvalError, CompiledPolicy
from engine.state.meta import read_text, set_text_once

log = logging.getLogger("turnout.canary")

IDLE_CHECK = 1.0  # seconds between looks at the policy while it has no canary
RECORD_PREFIX = "canary_rollback:"


@dataclass(frozen=True, slots=True)
class Rollback:
    """Why and when a canary version was rolled back (stored as JSON, shared by every worker)."""

    version: str
    at: str  # ISO time
    reason: str
    canary: dict[str, Any]
    stable: dict[str, Any]

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "version": self.version,
                "at": self.at,
                "reason": self.reason,
                "canary": self.canary,
                "stable": self.stable,
            }
        ).decode()

    @staticmethod
    def from_json(text: str) -> Rollback:
        data = orjson.loads(text)
        return Rollback(data["version"], data["at"], data["reason"], data["canary"], data["stable"])


@dataclass(frozen=True, slots=True)
class Evaluation:
    at: datetime
    canary: SideStats
    stable: SideStats
    holds: bool
    error: str | None = None


def record_name(version: str) -> str:
    return RECORD_PREFIX + version


class CanaryMonitor:
    def __init__(
        self,
        current: Callable[[], CompiledPolicy],
        engine: AsyncEngine | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_state: Callable[[str, bool], None] = lambda version, rolled_back: None,
    ) -> None:
        """``on_state(version, rolled_back)`` hears when a canary starts serving, is rolled
        back, or serves again (the worker's metrics)."""
        self._current = current
        self._on_state = on_state
        self._engine = engine
        self._clock = clock
        self._rolled_back: dict[str, Rollback] = {}
        self._last: dict[str, Evaluation] = {}  # canary version -> its latest evaluation
        self._announced: set[str] = set()

    def serving(self, policy: CompiledPolicy) -> CanarySpec | None:
        """The policy's canary, unless it was rolled back."""
        spec = policy.canary
        if spec is None or spec.version in self._rolled_back:
            return None
        return spec

    def rollback_of(self, version: str) -> Rollback | None:
        return self._rolled_back.get(version)

    async def run(self, stop: asyncio.Event) -> None:
        """Check until ``stop`` is set; a failed check is logged and retried next time."""
        while not stop.is_set():
            spec = self._current().canary
            try:
                await self.check()
            except Exception:
                log.exception("canary check failed (retrying in %gs)", spec.check_every if spec else IDLE_CHECK)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), spec.check_every if spec else IDLE_CHECK)

    async def check(self) -> Evaluation | None:
        """One look: learn a rollback another worker stored, or evaluate the condition."""
        policy = self._current()
        spec = policy.canary
        if spec is None:
            return None
        self._announce(policy, spec)
        if self._engine is None:
            return None
        async with self._engine.connect() as conn:
            stored = await read_text(conn, record_name(spec.version))
        if stored is not None:
            self._learn(Rollback.from_json(stored), decided_here=False)
            return None
        if self._rolled_back.pop(spec.version, None) is not None:  # ``turnout canary reset``
            log.warning("canary %s serves again: its rollback was reset", spec.version)
            self._on_state(spec.version, False)
            self._last.pop(spec.version, None)
        now = self._clock()
        canary, stable = await window_stats(
            self._engine, spec.version, policy.version, now - timedelta(seconds=spec.window)
        )
        try:
            holds = rollback_holds(spec.rollback, canary, stable)
        except CelEvalError as exc:
            log.error("canary %s: the rollback condition failed: %s", spec.version, exc)
            evaluation = Evaluation(now, canary, stable, False, str(exc))
            self._last[spec.version] = evaluation
            return evaluation
        evaluation = Evaluation(now, canary, stable, holds)
        self._last[spec.version] = evaluation
        if holds:
            reason = (
                f"{spec.rollback.source} held over the last {spec.window:g}s: "
                f"canary {canary.describe()}; stable {stable.describe()}"
            )
            mine = Rollback(spec.version, now.isoformat(), reason, canary.variables(), stable.variables())
            async with self._engine.begin() as conn:
                kept = await set_text_once(conn, record_name(spec.version), mine.to_json())
            self._learn(Rollback.from_json(kept), decided_here=kept == mine.to_json())
        return evaluation

    def _announce(self, policy: CompiledPolicy, spec: CanarySpec) -> None:
        if spec.version in self._announced:
            return
        self._announced.add(spec.version)
        self._on_state(spec.version, False)
        if self._engine is None:
            log.warning(
                "canary %s serves beside %s WITHOUT automatic rollback: it needs the state store "
                "(key_management), which is off",
                spec.version,
                policy.version,
            )
        else:
            log.info("canary %s serves beside %s; rollback when %s", spec.version, policy.version, spec.rollback.source)

    def _learn(self, rollback: Rollback, *, decided_here: bool) -> None:
        if rollback.version in self._rolled_back:
            return
        self._rolled_back[rollback.version] = rollback
        self._on_state(rollback.version, True)
        who = "" if decided_here else " (decided by another worker)"
        log.warning("canary %s rolled back at %s%s: %s", rollback.version, rollback.at, who, rollback.reason)

    def status(self, policy: CompiledPolicy) -> dict[str, Any] | None:
        """The ``canary`` part of ``/api/status``."""
        spec = policy.canary
        if spec is None:
            return None
        rollback = self._rolled_back.get(spec.version)
        last = self._last.get(spec.version)
        state = "rolled_back" if rollback else ("serving" if self._engine is not None else "unmonitored")
        return {
            "version": spec.version,
            "state": state,
            "percent": spec.percent,
            "groups": sorted(spec.groups),
            "header": spec.header,
            "sticky": spec.sticky,
            "rollback_when": spec.rollback.source,
            "window_s": spec.window,
            "rescue": spec.rescue,
            "rolled_back": None
            if rollback is None
            else {"at": rollback.at, "reason": rollback.reason, "canary": rollback.canary, "stable": rollback.stable},
            "last_check": None
            if last is None
            else {
                "at": last.at.isoformat(),
                "holds": last.holds,
                "error": last.error,
                "canary": last.canary.variables(),
                "stable": last.stable.variables(),
            },
        }
