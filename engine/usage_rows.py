"""The usage-log rows of one finished request: one for the request, one per attempt. Pure.

Rows never carry prompts or outputs: only who asked, what was routed where, how each
attempt ended, tokens, cost and the policy version the request ran on.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from engine.access import UsageRecord
from engine.call import Call
from engine.canonical import Usage
from engine.metering import usage_cost
from engine.routing.execute import AttemptRecord, Outcome


def usage_rows(
    call: Call, outcome: Outcome | None, records: list[AttemptRecord], status: int, error_type: str | None
) -> list[UsageRecord]:
    """The request row (``attempt=None``) first, then one row per attempt."""
    now = datetime.now(UTC)
    route, principal, ingress = call.route, call.principal, call.ingress
    usage = (outcome.usage if outcome else None) or Usage()
    served = outcome.attempt if outcome else None
    price = call.policy.models[served.target.model].price if served else None
    alias_rule = f"{route.alias}#{route.rule}" if route.alias and route.rule else route.alias
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
            status=status,
            error_type=error_type,
            latency_ms=(time.perf_counter() - call.started) * 1000,
            ttfb_ms=records[-1].ttfb_ms if records else None,
            prompt_tokens=usage.input_tokens,
            completion_tokens=usage.output_tokens,
            cached_tokens=usage.cached_input_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=usage_cost(usage, price, call.multiplier),
            policy_version=call.policy.version,
        )
    ]
    for record in records:
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
                error_type=record.failure,
                latency_ms=record.latency_ms,
                ttfb_ms=record.ttfb_ms,
                prompt_tokens=0,
                completion_tokens=0,
                cached_tokens=0,
                reasoning_tokens=0,
                cost_usd=0.0,
                policy_version=call.policy.version,
            )
        )
    return rows
