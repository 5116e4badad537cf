"""Explain a routing decision without calling any upstream: the rule that matched, every
candidate with why it was kept or dropped, the final attempt order with cost estimates,
and what would end each attempt (its deadlines, the retries the policy allows, whether a
cut stream may resume on it, its stream buffer) and whether the alias hedges.

Pure: a ``Plan`` (and the facts it was made from) in, a JSON-able dict or text out. The
same output serves ``turnout explain`` and ``POST /api/explain``.
"""

from __future__ import annotations

from typing import Any

from engine.policy.compiled import CompiledPolicy, RetrySpec
from engine.policy.durations import describe_buffer
from engine.routing.facts import RequestFacts
from engine.routing.plan import Attempt, Plan


def explain_plan(route: Plan, facts: RequestFacts, policy_version: str, policy: CompiledPolicy) -> dict[str, Any]:
    return {
        "policy_version": policy_version,
        "hedge_after_s": route.hedge_after,
        "requested": route.requested,
        "alias": route.alias,
        "rule": route.rule,
        "strategy": route.strategy,
        "request": {
            "estimated_tokens": facts.estimated_tokens,
            "max_tokens": facts.max_tokens,
            "stream": facts.stream,
            "has_tools": facts.has_tools,
            "has_images": facts.has_images,
            "wants_json": facts.wants_json,
            "message_count": facts.message_count,
        },
        "candidates": [
            {"model": n.model, "channel": n.channel, "kept": n.kept, "reason": n.reason} for n in route.notes
        ]
        + [
            {
                "model": a.target.model,
                "channel": a.target.channel,
                "kept": True,
                "reason": f"{a.role}, estimated "
                + (f"${a.estimated_cost_usd:.6f}" if a.estimated_cost_usd is not None else "unpriced"),
            }
            for a in route.attempts
        ],
        "attempts": [
            {
                "order": i + 1,
                "model": a.target.model,
                "channel": a.target.channel,
                "upstream_model": a.target.upstream_model,
                "role": a.role,
                "estimated_cost_usd": a.estimated_cost_usd,
                "ends": _ends(a, policy),
            }
            for i, a in enumerate(route.attempts)
        ],
    }


def _ends(attempt: Attempt, policy: CompiledPolicy) -> dict[str, Any]:
    """What would end this attempt, and what would follow."""
    t = policy.channels[attempt.target.channel].timeout
    return {
        "deadlines_s": {
            "connect": t.connect,
            "first_byte": t.first_byte,
            "first_token": t.first_token,
            "idle": t.idle,
            "total": t.total,
        },
        "retries": _retries(policy.retry),
        "resume_here": attempt.prefill,
        "stream_buffer": describe_buffer(attempt.buffer),
    }


def _retries(retry: RetrySpec) -> str:
    if retry.attempts <= 1:
        return "none: a failure moves on to the next candidate"
    on = [str(s) for s in sorted(retry.on_status)] + (["connect"] if retry.on_connect else [])
    return (
        f"up to {retry.attempts - 1} more on {', '.join(on) or 'nothing'}; a timeout moves on at once; "
        "400/401/403 and content policy stop"
    )


def render_text(explained: dict[str, Any]) -> str:
    lines = [f"policy {explained['policy_version']}", f"requested: {explained['requested']}"]
    if explained["alias"]:
        matched = explained["rule"] or "-"
        lines.append(f"alias: {explained['alias']} (rule {matched}, strategy {explained['strategy']})")
    req = explained["request"]
    lines.append(
        "request: ~{estimated_tokens} tokens, max_tokens {max_tokens}, tools={has_tools}, images={has_images}, "
        "json={wants_json}, stream={stream}".format(**req)
    )
    lines.append("candidates:")
    for c in explained["candidates"]:
        where = f"{c['model']}@{c['channel']}" if c["channel"] else c["model"]
        lines.append(f"  {'kept   ' if c['kept'] else 'dropped'} {where}: {c['reason']}")
    lines.append("attempt order:")
    for a in explained["attempts"]:
        cost = a["estimated_cost_usd"]
        shown = f"~${cost:.6f}" if cost is not None else "unpriced"
        lines.append(f"  {a['order']}. {a['model']} via {a['channel']} ({a['upstream_model']}), {a['role']}, {shown}")
        ends = a["ends"]
        d = ends["deadlines_s"]
        lines.append(
            f"     ends after: connect {d['connect']:g}s, first byte {d['first_byte']:g}s, first token "
            f"{d['first_token']:g}s, idle {d['idle']:g}s, total {d['total']:g}s; retries: {ends['retries']}"
        )
        extra = [f"stream buffer {ends['stream_buffer']}"]
        if ends["resume_here"]:
            extra.append("a cut stream may resume here (prefill)")
        lines.append("     " + "; ".join(extra))
    if explained.get("hedge_after_s"):
        lines.append(f"hedge: the next candidate races one with no token after {explained['hedge_after_s']:g}s")
    return "\n".join(lines)
