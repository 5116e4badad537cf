"""The usage-log rows of one finished request: one for the request, one per attempt. Pure.

Rows never carry prompts or outputs: only who asked, what was routed where, how each
attempt ended, tokens, cost (``engine.billing``), the policy version the request (or the
attempt) ran on and the canary it was sent to, if any: a request the stable policy rescued
from a failing canary has the canary's attempt rows first, numbered on by the stable's.
The request row also carries the routing facts the plan read (``engine.replay.recorded``,
references only: the usage log's writer converts them), for ``turnout replay``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import NamedTuple

from engine.access import UsageRecord
from engine.billing import NOTHING, Charge
from engine.call import Call
from engine.replay.recorded import RoutingRecord
from engine.routing.outcome import AttemptRecord, Outcome
from engine.routing.plan import KeyFacts


class Ending(NamedTuple):
    """How the request ended, for its row: the key's charge and each attempt's (in records order)."""

    status: int
    error_type: str | None
    charge: Charge
    per_attempt: list[Charge] | None = None  # None: nothing was charged
    overrun_usd: float = 0.0


def usage_rows(call: Call, outcome: Outcome | None, records: list[AttemptRecord], ending: Ending) -> list[UsageRecord]:
    """The request row (``attempt=None``) first, then one row per attempt in start order."""
    now = datetime.now(UTC)
    route, principal, ingress, policy_version = call.route, call.principal, call.ingress, call.policy.version
    request_id, account_id, key_id, endpoint = (
        ingress.request_id,
        principal.account_id,
        principal.key_id,
        ingress.endpoint,
    )
    usage = ending.charge.usage
    served = outcome.attempt if outcome else None
    alias_rule = f"{route.alias}#{route.rule}" if route.alias and route.rule else route.alias
    per_attempt = ending.per_attempt or [NOTHING] * len(records)
    pairs = list(zip(records, per_attempt, strict=True))
    if len(pairs) > 1:
        pairs.sort(key=lambda pair: pair[0].number)
    ttfb = next((r.ttfb_ms for r, _ in pairs if r.delivered), pairs[-1][0].ttfb_ms if pairs else None)
    first = route.attempts[0].target if route.attempts else None
    key = KeyFacts(principal.key_name, principal.group, principal.tags)
    routing = RoutingRecord(call.facts, key, key_id is not None, call.planned_at or now, first)
    rows = [
        UsageRecord(
            request_id, None, now, account_id, key_id, endpoint, route.requested, alias_rule,
            served.target.model if served else None, served.target.channel if served else None,
            ending.status, ending.error_type, (time.perf_counter() - call.started) * 1000, ttfb,
            usage.input_tokens, usage.output_tokens, usage.cached_input_tokens, usage.reasoning_tokens,
            ending.charge.cost_usd, policy_version, _own_key(call, served.target.channel if served else None),
            ending.charge.estimated, ending.overrun_usd, routing, call.canary_version,
        )
    ]  # fmt: skip
    for record, charge in pairs:
        spent = charge.usage
        target = record.attempt.target
        rows.append(
            UsageRecord(
                request_id, record.number + call.attempt_offset, now, account_id, key_id, endpoint, route.requested,
                alias_rule,
                target.model, target.channel, record.status or 0,
                record.failure or (None if record.ended == "ok" else record.ended),
                record.latency_ms, record.ttfb_ms,
                spent.input_tokens, spent.output_tokens, spent.cached_input_tokens, spent.reasoning_tokens,
                charge.cost_usd, policy_version, _own_key(call, target.channel), charge.estimated,
                canary_version=call.canary_version,
            )
        )  # fmt: skip
    return rows


def _own_key(call: Call, channel: str | None) -> bool:
    """Whether the caller's own provider key (BYOK) served on ``channel``."""
    return call.byok is not None and channel in call.byok.channels
