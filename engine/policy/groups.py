"""Compiling ``[groups.*]``: what a key group may call, how fast and how much.

A ``default`` group always exists (all models, no limits) unless the policy writes its own.
A model glob that matches no model or alias is a warning (likely a typo); a bad CIDR in
``ip_allow`` is an error.
"""

from __future__ import annotations

import ipaddress
from fnmatch import fnmatchcase

from engine.policy.compiled import GroupSpec
from engine.policy.document import Problems
from engine.policy.shape import RawPolicy

DEFAULT_GROUP = "default"


def compile_groups(raw: RawPolicy, problems: Problems) -> dict[str, GroupSpec]:
    public = raw.written.get("models", set()) | raw.written.get("aliases", set())
    out: dict[str, GroupSpec] = {}
    for name in sorted(raw.groups):
        group = raw.groups[name]
        path = ["groups", name]
        for index, pattern in enumerate(group.models):
            if not any(fnmatchcase(target, pattern) for target in public):
                problems.warn([*path, "models", str(index)], f"{pattern!r} matches no model or alias")
        networks: list[str] = []
        for index, cidr in enumerate(group.ip_allow):
            try:
                networks.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
            except ValueError:
                problems.add(
                    [*path, "ip_allow", str(index)], f"{cidr!r} is not an IP address or CIDR (like 203.0.113.0/24)"
                )
        out[name] = GroupSpec(
            name=name,
            models=tuple(group.models),
            rpm=group.rpm,
            tpm=group.tpm,
            concurrent=group.concurrent,
            budget_day_usd=group.budget.day,
            budget_month_usd=group.budget.month,
            price_multiplier=group.price_multiplier,
            ip_allow=tuple(networks),
            byok=group.byok,
            byok_fee=group.byok_fee,
        )
    if DEFAULT_GROUP not in raw.written.get("groups", set()):
        out[DEFAULT_GROUP] = GroupSpec(name=DEFAULT_GROUP)
    return dict(sorted(out.items()))
