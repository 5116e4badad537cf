"""What a request is charged, from the attempts that served it. Pure.

The key pays for what reached the client: every attempt whose output was relayed (the one
that served, and each one a resumed stream continued), at its own model's price and the
group's multiplier. An attempt's usage is what its upstream reported when it finished;
when it did not finish (the client hung up, the stream was cut and resumed elsewhere), the
reported part is topped up with a count of what was relayed and of the prompt, and the
charge is marked estimated (so is a finished stream that reported no usage at all).
Attempts whose output the client never saw (failures before the first token, a hedge that
lost the race, a buffered attempt restarted elsewhere) are not charged: the operator pays
its upstream for them; a hedge loser's row shows the prompt it cost.

An attempt served with the caller's own provider key (BYOK) is charged the group's
``byok_fee`` per 1M tokens (input, cached and output alike) instead of the model's price.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from engine.canonical import Usage
from engine.metering import usage_cost
from engine.policy.compiled import CompiledPolicy, GroupSpec, Price
from engine.resume import add_usage, estimated_usage
from engine.routing.outcome import AttemptRecord


class Charge(NamedTuple):
    usage: Usage
    cost_usd: float
    estimated: bool


NOTHING = Charge(Usage(), 0.0, False)


class Byok(NamedTuple):
    """Where a caller's own provider keys serve it, and what Turnout charges there."""

    channels: frozenset[str]
    fee: Price  # the group's byok_fee, per 1M tokens of every kind


def byok_for(keys: Mapping[str, str], group: GroupSpec | None, policy: CompiledPolicy) -> Byok | None:
    """The caller's BYOK channels in this policy (its keys for channels that allow them)."""
    if not keys or group is None or not group.byok:
        return None
    channels = frozenset(name for name in keys if name in policy.channels and policy.channels[name].byok)
    if not channels:
        return None
    fee = group.byok_fee
    return Byok(channels, Price(input=fee, output=fee, cached_input=fee))


def price_of(policy: CompiledPolicy, model: str, channel: str, byok: Byok | None) -> Price | None:
    """What one token costs on this model and channel for this caller."""
    if byok is not None and channel in byok.channels:
        return byok.fee
    return policy.models[model].price


def attempt_charge(
    record: AttemptRecord, policy: CompiledPolicy, prompt_tokens: int, multiplier: float, byok: Byok | None = None
) -> Charge:
    """What one attempt consumed (and, when ``record.delivered``, what the key pays for it)."""
    if record.delivered:
        if record.complete and record.usage is not None and record.usage.total_tokens > 0:
            usage, estimated = record.usage, False
        else:
            usage, estimated = estimated_usage(record.usage, prompt_tokens, record.output_chars), True
    elif record.ended == "hedge_lost":
        usage, estimated = Usage(input_tokens=prompt_tokens), True
    else:
        return NOTHING
    target = record.attempt.target
    price = price_of(policy, target.model, target.channel, byok)
    if byok is not None and target.channel in byok.channels:
        multiplier = 1.0  # the fee is the price: the group's multiplier is for list prices
    return Charge(usage, usage_cost(usage, price, multiplier), estimated)


def charges(
    records: list[AttemptRecord],
    policy: CompiledPolicy,
    prompt_tokens: int,
    multiplier: float,
    byok: Byok | None = None,
) -> list[Charge]:
    """Each attempt's charge (``NOTHING`` for what cost nothing), in ``records`` order."""
    return [attempt_charge(record, policy, prompt_tokens, multiplier, byok) for record in records]


def request_charge(records: list[AttemptRecord], per_attempt: list[Charge]) -> Charge:
    """What the key pays: the sum over the attempts the client got output from."""
    if len(records) == 1:
        return per_attempt[0] if records[0].delivered else NOTHING
    usage, cost, estimated = Usage(), 0.0, False
    for record, charge in zip(records, per_attempt, strict=True):
        if record.delivered:
            usage, cost, estimated = (
                add_usage(usage, charge.usage),
                cost + charge.cost_usd,
                estimated or charge.estimated,
            )
    return Charge(usage, cost, estimated)
