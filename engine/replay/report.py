"""The comparison of two sides of a replay: what changes between a baseline and a candidate.

``compare`` walks the recorded requests once, asks each side for its ``Outcome`` and
accumulates the ``Report``: how many requests start on another model or channel (the first
candidate), per requested model or alias the share of each model before and after, the
cost of the recorded actual tokens on each side (exact micro-dollars), and which requests
would become refused or unroutable (and how many would become routable). Pure apart from
the progress callback it is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.policy.compiled import CompiledPolicy
from engine.replay.recorded import RecordedRequest
from engine.replay.replan import Outcome, Refused, Routed

Side = Callable[[RecordedRequest], Outcome]
TOP_TRANSITIONS = 10


def bucket(outcome: Outcome) -> str:
    """The share a request counts toward: its first model, or its refusal."""
    return outcome.model if isinstance(outcome, Routed) else f"refused ({outcome.status})"


def where(outcome: Outcome) -> str:
    return f"{outcome.model}@{outcome.channel}" if isinstance(outcome, Routed) else f"refused {outcome.status}"


@dataclass(slots=True)
class AliasShare:
    requested: str
    requests: int = 0
    changed: int = 0  # first candidate or refusal differs
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    cost_before_micros: int = 0
    cost_after_micros: int = 0

    def to_json(self) -> dict[str, Any]:
        models = sorted(set(self.before) | set(self.after), key=lambda m: (-self.after[m], -self.before[m], m))
        return {
            "requested": self.requested,
            "requests": self.requests,
            "changed": self.changed,
            "models": [{"model": m, "before": self.before[m], "after": self.after[m]} for m in models],
            "cost_before_micros": self.cost_before_micros,
            "cost_after_micros": self.cost_after_micros,
        }


@dataclass(frozen=True, slots=True)
class RefusedRequest:
    request_id: str
    requested: str
    before: str  # where it went before (model@channel)
    status: int
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "requested": self.requested,
            "before": self.before,
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }


@dataclass(slots=True)
class Report:
    before: str  # what the baseline is: "recorded" or a revision
    after: str
    requests: int = 0
    changed: int = 0
    became_routable: int = 0
    still_refused: int = 0
    cost_before_micros: int = 0
    cost_after_micros: int = 0
    unpriced_after: int = 0  # requests whose new first model has no price (counted as 0)
    aliases: dict[str, AliasShare] = field(default_factory=dict)
    transitions: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (requested, from, to)
    refused: list[RefusedRequest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, recorded: RecordedRequest, old: Outcome, new: Outcome) -> None:
        self.requests += 1
        share = self.aliases.get(recorded.model)
        if share is None:
            share = self.aliases[recorded.model] = AliasShare(recorded.model)
        share.requests += 1
        share.before[bucket(old)] += 1
        share.after[bucket(new)] += 1
        old_cost = old.cost_micros if isinstance(old, Routed) else 0
        new_cost = new.cost_micros if isinstance(new, Routed) else 0
        share.cost_before_micros += old_cost
        share.cost_after_micros += new_cost
        self.cost_before_micros += old_cost
        self.cost_after_micros += new_cost
        if isinstance(new, Routed) and not new.priced:
            self.unpriced_after += 1
        before, after = where(old), where(new)
        if before != after:
            share.changed += 1
            self.transitions[(recorded.model, before, after)] += 1
        if isinstance(old, Routed) and isinstance(new, Routed):
            if before != after:
                self.changed += 1
        elif isinstance(new, Refused):
            if isinstance(old, Refused):
                self.still_refused += 1
            else:
                self.refused.append(
                    RefusedRequest(recorded.request_id, recorded.model, before, new.status, new.code, new.message)
                )
        else:
            self.became_routable += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "requests": self.requests,
            "changed": self.changed,
            "became_refused": len(self.refused),
            "became_routable": self.became_routable,
            "still_refused": self.still_refused,
            "cost": {
                "before_micros": self.cost_before_micros,
                "after_micros": self.cost_after_micros,
                "difference_micros": self.cost_after_micros - self.cost_before_micros,
                "unpriced_after": self.unpriced_after,
            },
            "requested": [
                share.to_json() for share in sorted(self.aliases.values(), key=lambda s: (-s.requests, s.requested))
            ],
            "top_changes": [
                {"requested": r, "from": f, "to": t, "requests": n} for (r, f, t), n in self.top_transitions()
            ],
            "refused": [r.to_json() for r in self.refused],
            "notes": list(self.notes),
        }

    def top_transitions(self) -> list[tuple[tuple[str, str, str], int]]:
        return sorted(self.transitions.items(), key=lambda item: (-item[1], item[0]))[:TOP_TRANSITIONS]


def compare(
    requests: Iterable[RecordedRequest],
    before: Side,
    after: Side,
    report: Report,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Replay every request through both sides into ``report``; ``progress(n)`` every 1,000."""
    for count, recorded in enumerate(requests, 1):
        report.add(recorded, before(recorded), after(recorded))
        if progress is not None and count % 1000 == 0:
            progress(count)
    return report


def policy_notes(policy: CompiledPolicy, recorded_headers: set[str]) -> list[str]:
    """What a replay of this policy cannot reproduce from recorded facts."""
    notes: list[str] = []
    sources = [
        program.source
        for alias in policy.aliases.values()
        for program in (*(r.when for r in alias.rules), alias.filter, alias.order, alias.cost)
        if program is not None
    ]
    if any("request.text" in source for source in sources):
        notes.append("rules read request.text, which is never recorded: replay evaluates them with an empty text")
    unseen = sorted(policy.request_headers - recorded_headers)
    if unseen:
        notes.append(
            "rules may read headers no recorded request carries (recorded only when the serving policy "
            f"listed them, never credentials): {', '.join(unseen)}"
        )
    live = ("candidate.latency", "candidate.error_rate", "candidate.in_flight")
    by_health = {a.strategy for a in policy.aliases.values()} & {"fastest", "least-busy"}
    if by_health or any(name in source for source in sources for name in live):
        notes.append(
            "channel health is not replayed (no breaker open, no latencies, nothing in flight): "
            "latency- and load-based choices keep policy order"
        )
    return notes
