"""Re-plan a recorded request against a policy: the server's own ``plan()``, no upstream called.

Pure. For each ``RecordedRequest`` the outcome is either the first candidate the plan would
try (model, channel, the alias and rule that chose it) and what the recorded actual tokens
would cost there, or the refusal the client would get: 403 (the key's group does not allow
the model, or is gone), 404 (no such model or alias), 400 (too large for every candidate)
or 503 (no route).

What a replay cannot know is held fixed, the same for both sides of a comparison: channel
health is a fresh ``Health()`` (no breaker open, no latencies, nothing in flight, so the
``fastest`` and ``least-busy`` strategies keep policy order); the ``weighted`` strategy
draws from a generator seeded with the request id (the same draw for the same request);
``request.text`` is empty (prompts are never recorded); a key's own narrowing of its
group's models is assumed to allow the request (it was allowed when recorded).

Cost is exact integer micro-dollars (``engine.metering.cost_micros``, as billing charges):
the recorded prompt, cached and output tokens at the first candidate's price times the
key group's ``price_multiplier`` (unpriced models cost 0).
"""

from __future__ import annotations

import random
import zlib
from typing import NamedTuple

from engine.access import allow_model, key_group
from engine.canonical import Usage
from engine.errors import Forbidden, GatewayError
from engine.metering import cost_micros
from engine.policy.compiled import CompiledPolicy
from engine.replay.recorded import RecordedRequest
from engine.routing.health import Health
from engine.routing.plan import plan


class Routed(NamedTuple):
    model: str
    channel: str
    alias: str | None
    rule: str | None
    cost_micros: int
    priced: bool


class Refused(NamedTuple):
    status: int
    code: str
    message: str


Outcome = Routed | Refused


def _authorized(group_name: str, model: str, key_name: str, policy: CompiledPolicy) -> Refused | None:
    """The group check the gate makes (``engine.access``; stored keys only, the key's own
    globs allowed it when it was recorded)."""
    try:
        allow_model(key_group(policy, group_name), key_name, ("*",), model)
    except Forbidden as err:
        return Refused(err.status, err.code or err.kind, err.message)
    return None


def actual_usage(recorded: RecordedRequest) -> Usage:
    return Usage(
        input_tokens=recorded.prompt_tokens,
        output_tokens=recorded.completion_tokens,
        cached_input_tokens=recorded.cached_tokens,
        reasoning_tokens=recorded.reasoning_tokens,
    )


def cost_at(recorded: RecordedRequest, policy: CompiledPolicy, model: str) -> tuple[int, bool]:
    """What the recorded tokens cost at ``model``'s price in ``policy`` (micro-dollars), and
    whether the model has a price there."""
    spec = policy.models.get(model)
    if spec is None or spec.price is None:
        return 0, False
    group = policy.groups.get(recorded.key_group)
    multiplier = group.price_multiplier if group else 1.0
    return cost_micros(actual_usage(recorded), spec.price, multiplier), True


class Replanner:
    """Re-plans requests against one policy; holds the fixed health, the reseeded generator
    and the group checks already made (a handful of groups and models repeat all day)."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self.policy = policy
        self._health = Health()
        self._rng = random.Random()
        self._checked: dict[tuple[str, str, str], Refused | None] = {}

    def outcome(self, recorded: RecordedRequest) -> Outcome:
        if recorded.keyed:
            pair = (recorded.key_group, recorded.model, recorded.key_name)
            if pair not in self._checked:
                self._checked[pair] = _authorized(*pair, self.policy)
            refused = self._checked[pair]
            if refused is not None:
                return refused
        self._rng.seed(zlib.crc32(recorded.request_id.encode()))  # an int seed: no hashing of text
        try:
            route = plan(recorded.facts(), self.policy, self._health, recorded.key(), recorded.planned_at, self._rng)
        except GatewayError as err:
            return Refused(err.status, err.code or err.kind, err.message)
        target = route.attempts[0].target
        cost, priced = cost_at(recorded, self.policy, target.model)
        return Routed(target.model, target.channel, route.alias, route.rule, cost, priced)


def recorded_outcome(recorded: RecordedRequest) -> Outcome:
    """What the usage row says the plan chose then (its first candidate) and what was charged."""
    if recorded.first_model is None or recorded.first_channel is None:
        return Refused(recorded.status, "not_planned", "the row records no first candidate")
    return Routed(recorded.first_model, recorded.first_channel, None, None, recorded.cost_micros, True)
