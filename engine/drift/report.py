"""The drift report: what a ``Tally`` of the usage log says about the current policy. Pure.

Four findings, each flagged item counting toward ``--fail-on-drift``:

- **rules never matched**: every rule of an alias requested in the window (and its
  ``candidates``, the branch taken when no rule matches) that no request row names in
  ``alias_rule``. Only requested aliases are judged: the log records the requested alias's
  rule, not the rules of an alias reached through another one.
- **no traffic**: aliases neither requested nor reachable from a requested alias; models
  never requested, attempted or served; channels with no attempt.
- **failing over**: channels with at least ``min_attempts`` attempts of which a share of at
  least ``failover_share`` did not end ok.
- **cost drift**: served models whose mean charged cost per request differs from the policy's
  mean estimate for the same requests (``engine.drift.tally.estimate_micros``) by more than
  ``cost_tolerance`` of the estimate.

With no request in the window nothing is flagged: there is nothing to judge by. Requests the
policy's canary candidate served are counted but judge nothing here but channels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from engine.drift.tally import Tally
from engine.policy.compiled import CompiledPolicy

COST_DEFINITION = (
    "cost drift: per served model, the mean cost charged per request (usage log, BYOK requests left out) "
    "against the mean of what this policy estimates for the same recorded requests, as `turnout explain` "
    "and policy tests do: estimated prompt tokens at the input price plus the output cap (max_tokens, else "
    "router.default_max_tokens) at the output price, times the key group's price multiplier; flagged when "
    "they differ by more than the tolerance of the estimate. The estimate assumes every output token of "
    "the cap is spent, so answers shorter than their cap pull the observed cost below it: the prompt and "
    "output columns say which side drifted. Batch-job requests, charged at the model's batch discount, "
    "are not told apart in the log."
)


class Thresholds(NamedTuple):
    min_attempts: int = 20
    failover_share: float = 0.9
    cost_tolerance: float = 0.25


class Window(NamedTuple):
    since: datetime
    until: datetime


def _reachable_aliases(policy: CompiledPolicy, requested: set[str]) -> set[str]:
    """The aliases requested, and every alias their rules, candidates or fallback name."""
    seen: set[str] = set()
    stack = [name for name in requested if name in policy.aliases]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        alias = policy.aliases[name]
        names = [*alias.candidates, *alias.fallback, *(n for rule in alias.rules for n in rule.use)]
        stack.extend(n for n in names if n in policy.aliases and n not in seen)
    return seen


def unmatched_rules(tally: Tally) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in sorted(tally.policy.aliases):
        alias = tally.policy.aliases[name]
        if not alias.rules or not tally.requested[name]:
            continue
        for rule in alias.rules:
            if not tally.alias_rules[f"{name}#{rule.index + 1}"]:
                out.append(
                    {"alias": name, "rule": str(rule.index + 1), "when": rule.when.source, "location": rule.location}
                )
        if alias.candidates and not tally.alias_rules[f"{name}#candidates"]:
            out.append({"alias": name, "rule": "candidates", "when": "no rule matched", "location": None})
    return out


def idle(tally: Tally) -> dict[str, list[str]]:
    policy = tally.policy
    reached = _reachable_aliases(policy, set(tally.requested))
    used_models = set(tally.requested) | set(tally.served) | set(tally.attempted)
    return {
        "aliases": sorted(set(policy.aliases) - reached),
        "models": sorted(set(policy.models) - used_models),
        "channels": sorted(set(policy.channels) - set(tally.channels)),
    }


def channels(tally: Tally, limits: Thresholds) -> list[dict[str, Any]]:
    rows = []
    for name, seen in tally.channels.items():
        share = seen.failed / seen.attempts
        rows.append(
            {
                "channel": name,
                "attempts": seen.attempts,
                "failed": seen.failed,
                "failed_share": round(share, 4),
                "flagged": seen.attempts >= limits.min_attempts and share >= limits.failover_share,
                "in_policy": name in tally.policy.channels,
                "reasons": dict(sorted(seen.reasons.items(), key=lambda item: (-item[1], item[0]))),
            }
        )
    return sorted(rows, key=lambda r: (not r["flagged"], -r["failed_share"], -r["attempts"], r["channel"]))


def costs(tally: Tally, limits: Thresholds) -> list[dict[str, Any]]:
    rows = []
    for model in sorted(tally.costs):
        cost = tally.costs[model]
        n = cost.requests
        drift = cost.observed_micros / cost.estimated_micros - 1 if cost.estimated_micros > 0 else None
        rows.append(
            {
                "model": model,
                "requests": n,
                "observed_mean_micros": round(cost.observed_micros / n),
                "estimated_mean_micros": round(cost.estimated_micros / n),
                "drift": None if drift is None else round(drift, 4),
                "flagged": drift is not None and abs(drift) > limits.cost_tolerance,
                "prompt_tokens": {
                    "estimated_mean": round(cost.estimated_prompt / n),
                    "actual_mean": round(cost.actual_prompt / n),
                },
                "output_tokens": {
                    "assumed_mean": round(cost.assumed_output / n),
                    "actual_mean": round(cost.actual_output / n),
                },
            }
        )
    return rows


def _notes(tally: Tally) -> list[str]:
    notes = []
    canary = tally.policy.canary.version if tally.policy.canary is not None else None
    if tally.canary == tally.requests:
        notes.append("every request in the window ran on the canary candidate: only channels are judged")
    if tally.canary:
        notes.append(
            f"{tally.canary} requests ran on the canary candidate {str(canary)[:12]}: left out of rules, traffic "
            "and cost (they ran its policy); their attempts count for their channels"
        )
    others = sum(n for version, n in tally.versions.items() if version not in (tally.policy.version, canary))
    if others:
        notes.append(
            f"{others} requests ran on other policy versions: rules are counted by position, so a rule "
            "moved since then is judged by what ran at its old position"
        )
    if tally.byok:
        notes.append(f"{tally.byok} requests served with the caller's own key (charged a fee) left out of cost drift")
    if tally.without_facts:
        notes.append(f"{tally.without_facts} served requests without routing facts (older rows) left out of cost drift")
    for (model, why), n in sorted(tally.not_estimated.items()):
        notes.append(f"{n} requests served by {model} not estimated: {why}")
    return notes


def build(tally: Tally, window: Window, limits: Thresholds, policy_label: str) -> dict[str, Any]:
    """The report as JSON-ready data (rendered by ``engine.drift.render``)."""
    policy = tally.policy
    canary = policy.canary.version if policy.canary is not None else None
    empty = tally.requests == tally.canary
    data: dict[str, Any] = {
        "window": {"since": window.since.isoformat(), "until": window.until.isoformat()},
        "policy": {"directory": policy_label, "version": policy.version, "canary": canary},
        "requests": tally.requests,
        "attempts": tally.attempts,
        "policy_versions": [
            {"version": v, "requests": n, "current": v == policy.version, "canary": v == canary}
            for v, n in sorted(tally.versions.items(), key=lambda item: (-item[1], item[0]))
        ],
        "thresholds": limits._asdict(),
        "unmatched_rules": [] if empty else unmatched_rules(tally),
        "no_traffic": {"aliases": [], "models": [], "channels": []} if empty else idle(tally),
        "channels": channels(tally, limits),
        "costs": costs(tally, limits),
        "notes": ["no request in the window: nothing is flagged"] if not tally.requests else _notes(tally),
        "definition": COST_DEFINITION,
    }
    data["flagged"] = (
        len(data["unmatched_rules"])
        + sum(len(names) for names in data["no_traffic"].values())
        + sum(1 for c in data["channels"] if c["flagged"])
        + sum(1 for c in data["costs"] if c["flagged"])
    )
    return data
