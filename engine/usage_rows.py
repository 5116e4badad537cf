"""The usage-log rows of one finished request: one for the request, one per attempt. Pure.

Rows never carry prompts or outputs: only who asked, what was routed where, how each
attempt ended, tokens, cost (``engine.billing``) and the policy version the request ran on.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import NamedTuple

from engine.access import UsageRecord
from engine.billing import Charge, attempt_charge
from engine.call import Call
from engine.routing.outcome import AttemptRecord, Outcome


class Ending(NamedTuple):
    """How the request ended, for its row."""

    status: int
    error_type: str | None
    charge: Charge
    overrun_usd: float = 0.0


def usage_rows(call: Call, outcome: Outcome | None, records: list[AttemptRecord], ending: Ending) -> list[UsageRecord]:
    """The request row (``attempt=None``) first, then one row per attempt in start order."""
    now = datetime.now(UTC)
    route, principal, ingress = call.route, call.principal, call.ingress
    usage = ending.charge.usage
    served = outcome.attempt if outcome else None
    alias_rule = f"{route.alias}#{route.rule}" if route.alias and route.rule else route.alias
    ordered = sorted(records, key=lambda r: r.number)
    rows = [
        UsageRecord(
            request_id=ingress.request_id,
            attempt=None,
            at=now,
            account_id=principal.account_id,
            key_id=principal.key_id,
            endpoint=ingress.endpoint,
            model_requested=route.requested,
            alias_rule=alias_rule,
            model_served=served.target.model if served else None,
            channel=served.target.channel if served else None,
            status=ending.status,
            error_type=ending.error_type,
            latency_ms=(time.perf_counter() - call.started) * 1000,
            ttfb_ms=next((r.ttfb_ms for r in ordered if r.delivered), ordered[-1].ttfb_ms if ordered else None),
            prompt_tokens=usage.input_tokens,
            completion_tokens=usage.output_tokens,
            cached_tokens=usage.cached_input_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=ending.charge.cost_usd,
            policy_version=call.policy.version,
            estimated=ending.charge.estimated,
            overrun_usd=ending.overrun_usd,
        )
    ]
    prompt_tokens = call.facts.estimated_tokens
    for record in ordered:
        charge = attempt_charge(record, call.policy, prompt_tokens, call.multiplier)
        rows.append(
            UsageRecord(
                request_id=ingress.request_id,
                attempt=record.number,
                at=now,
                account_id=principal.account_id,
                key_id=principal.key_id,
                endpoint=ingress.endpoint,
                model_requested=route.requested,
                alias_rule=alias_rule,
                model_served=record.attempt.target.model,
                channel=record.attempt.target.channel,
                status=record.status or 0,
                error_type=record.failure or (None if record.ended == "ok" else record.ended),
                latency_ms=record.latency_ms,
                ttfb_ms=record.ttfb_ms,
                prompt_tokens=charge.usage.input_tokens,
                completion_tokens=charge.usage.output_tokens,
                cached_tokens=charge.usage.cached_input_tokens,
                reasoning_tokens=charge.usage.reasoning_tokens,
                cost_usd=charge.cost_usd,
                policy_version=call.policy.version,
                estimated=charge.estimated,
            )
        )
    return rows
