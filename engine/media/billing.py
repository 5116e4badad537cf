"""What an image request is charged: its token charges (as for chat: an image model may
price input and output tokens too) plus, for the attempt that delivered, each image it
returned at the model's price for the request's size and quality, times the group's
multiplier, rounded to the micro-dollar. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from engine.billing import Charge
from engine.metering import MICROS_PER_USD
from engine.policy.compiled import CompiledPolicy
from engine.routing.facts import RequestFacts
from engine.routing.outcome import AttemptRecord
from engine.routing.plan import Attempt


def image_charges(
    records: list[AttemptRecord],
    token_charges: list[Charge],
    images_returned: Mapping[Attempt, int],
    policy: CompiledPolicy,
    facts: RequestFacts,
    multiplier: float,
) -> list[Charge]:
    out = []
    for record, charge in zip(records, token_charges, strict=True):
        price = policy.models[record.attempt.target.model].price
        count = images_returned.get(record.attempt, 0)
        if record.delivered and price is not None and count:
            unit = round(price.image_usd(facts.image_size, facts.image_quality) * MICROS_PER_USD)
            extra = round(count * unit * multiplier) / MICROS_PER_USD
            charge = Charge(charge.usage, charge.cost_usd + extra, charge.estimated)
        out.append(charge)
    return out


def worst_image_cost(policy: CompiledPolicy, attempt: Attempt, facts: RequestFacts, multiplier: float) -> float:
    """The most the images of ``attempt`` can cost (added to its token worst case)."""
    price = policy.models[attempt.target.model].price
    if price is None:
        return 0.0
    return facts.images * price.image_usd(facts.image_size, facts.image_quality) * multiplier
