"""The counts ``turnout drift`` needs, accumulated from usage rows in one pass. Pure.

Per request row: the requested model or alias, the alias rule that matched, who served, the
policy version, and, for the cost comparison, the charged cost next to the current policy's
estimate for the same recorded facts (``estimate_micros``). Per attempt row: the channel,
and whether the attempt ended ok. Memory grows with the names seen, not with the rows.

Rows the policy's canary candidate served (``policy_version`` is the canary's) ran another
policy's rules, models and prices: they are counted (requests, versions) and their attempts
count for their channels, but they say nothing about this policy's rules, traffic or cost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from engine.drift.rows import CostFacts, UsageRow
from engine.policy.compiled import CompiledPolicy, ModelSpec
from engine.routing.facts import RequestFacts
from engine.routing.plan import estimated_cost

UNPRICED = "unpriced in the policy"
NOT_IN_POLICY = "not in the policy"
IMAGE = "image model (image counts are not recorded)"


def estimate_micros(spec: ModelSpec, facts: CostFacts, policy: CompiledPolicy) -> float | None:
    """What the policy estimates the request costs on ``spec`` today, in micro-dollars: the
    planner's estimate (``turnout explain``, policy tests' cost ranges: estimated prompt
    tokens at the input price plus the output cap, or ``default_max_tokens``, at the output
    price) times the key group's price multiplier, as a charge is. None when it has no price."""
    request = RequestFacts(spec.id, facts.estimated_tokens, facts.max_tokens, False, False, False, False, 0, "")
    usd = estimated_cost(spec, request, policy.default_max_tokens)
    if usd is None:
        return None
    group = policy.groups.get(facts.key_group)
    return usd * 1_000_000 * (group.price_multiplier if group is not None else 1.0)


@dataclass(slots=True)
class ModelCost:
    """A served model's request rows that the policy can estimate, summed."""

    requests: int = 0
    observed_micros: int = 0  # what the usage log charged
    estimated_micros: float = 0.0  # what the policy estimates for the same requests
    estimated_prompt: int = 0  # prompt tokens Turnout estimated before routing
    actual_prompt: int = 0  # prompt tokens the upstream reported
    assumed_output: int = 0  # output tokens the estimate assumes (the cap)
    actual_output: int = 0


@dataclass(slots=True)
class ChannelAttempts:
    attempts: int = 0
    failed: int = 0  # attempts that did not end ok
    reasons: Counter[str] = field(default_factory=Counter)  # why the failed ones ended


@dataclass(slots=True)
class Tally:
    policy: CompiledPolicy
    requests: int = 0
    attempts: int = 0
    versions: Counter[str] = field(default_factory=Counter)  # request rows per policy version
    requested: Counter[str] = field(default_factory=Counter)  # request rows per requested model or alias
    alias_rules: Counter[str] = field(default_factory=Counter)  # request rows per "alias#rule"
    served: Counter[str] = field(default_factory=Counter)  # request rows per serving model
    attempted: Counter[str] = field(default_factory=Counter)  # attempt rows per model
    channels: dict[str, ChannelAttempts] = field(default_factory=dict)
    costs: dict[str, ModelCost] = field(default_factory=dict)
    not_estimated: Counter[tuple[str, str]] = field(default_factory=Counter)  # (model, why) -> requests
    canary: int = 0  # request rows the canary candidate served
    byok: int = 0  # served request rows charged a BYOK fee (left out of the cost comparison)
    without_facts: int = 0  # served request rows without readable routing facts (left out too)

    def add(self, row: UsageRow) -> None:
        on_canary = self.policy.canary is not None and row.policy_version == self.policy.canary.version
        if row.attempt is not None:
            self.attempts += 1
            self._channel(row)
            if row.model_served is not None and not on_canary:
                self.attempted[row.model_served] += 1
            return
        self.requests += 1
        self.versions[row.policy_version] += 1
        if on_canary:
            self.canary += 1
            return
        self.requested[row.model_requested] += 1
        if row.alias_rule is not None:
            self.alias_rules[row.alias_rule] += 1
        if row.model_served is not None:
            self.served[row.model_served] += 1
            self._cost(row, row.model_served)

    def _channel(self, row: UsageRow) -> None:
        if row.channel is None:
            return
        channel = self.channels.get(row.channel)
        if channel is None:
            channel = self.channels[row.channel] = ChannelAttempts()
        channel.attempts += 1
        if row.error_type is not None:
            channel.failed += 1
            channel.reasons[row.error_type] += 1

    def _cost(self, row: UsageRow, model: str) -> None:
        if row.byok:
            self.byok += 1
            return
        spec = self.policy.models.get(model)
        why = (
            NOT_IN_POLICY
            if spec is None
            else UNPRICED
            if spec.price is None
            else IMAGE
            if spec.kind == "image"
            else None
        )
        if why is not None or spec is None:
            self.not_estimated[(model, why or NOT_IN_POLICY)] += 1
            return
        if row.facts is None:
            self.without_facts += 1
            return
        estimate = estimate_micros(spec, row.facts, self.policy)
        if estimate is None:
            self.not_estimated[(model, UNPRICED)] += 1
            return
        cost = self.costs.get(model)
        if cost is None:
            cost = self.costs[model] = ModelCost()
        cost.requests += 1
        cost.observed_micros += row.cost_micros
        cost.estimated_micros += estimate
        cost.estimated_prompt += row.facts.estimated_tokens
        cost.actual_prompt += row.prompt_tokens
        if spec.kind == "chat":
            cost.assumed_output += row.facts.max_tokens or self.policy.default_max_tokens
        cost.actual_output += row.completion_tokens
