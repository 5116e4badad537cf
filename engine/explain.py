"""Explain a routing decision without calling any upstream: the rule that matched, every
candidate with why it was kept or dropped, and the final attempt order with cost estimates.

Pure: a ``Plan`` (and the facts it was made from) in, a JSON-able dict or text out. The
same output serves ``turnout explain`` and ``POST /api/explain``.
"""

from __future__ import annotations

from typing import Any

from engine.routing.facts import RequestFacts
from engine.routing.plan import Plan


def explain_plan(route: Plan, facts: RequestFacts, policy_version: str) -> dict[str, Any]:
    return {
        "policy_version": policy_version,
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
            }
            for i, a in enumerate(route.attempts)
        ],
    }


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
    return "\n".join(lines)
