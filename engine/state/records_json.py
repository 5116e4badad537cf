"""State records as JSON-ready dicts for the admin API, the self-service API and ``--json`` output.

Secrets and hashes never appear here; money is given both as ``*_usd`` numbers and exact
``*_micros`` integers.
"""

from __future__ import annotations

from typing import Any

from engine.state.key_secrets import SECRET_PREFIX
from engine.state.keys import KeyRecord
from engine.state.ledger import Balance
from engine.state.money import micros_to_usd


def key_json(key: KeyRecord) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": f"{SECRET_PREFIX}{key.prefix}",
        "group": key.group,
        "models": list(key.models),
        "ip_allow": list(key.ip_allow),
        "tags": list(key.tags),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "quota_usd": None if key.quota_micros is None else micros_to_usd(key.quota_micros),
        "enabled": key.enabled,
        "spend_usd": micros_to_usd(key.spend_micros),
        "spend_micros": key.spend_micros,
        "account": key.account_id,
        "created_at": key.created_at.isoformat(),
        "updated_at": key.updated_at.isoformat(),
    }


def balance_json(balance: Balance) -> dict[str, Any]:
    return {
        "account": balance.account_id,
        "prepaid": balance.prepaid,
        "balance_usd": micros_to_usd(balance.balance_micros),
        "held_usd": micros_to_usd(balance.held_micros),
        "available_usd": micros_to_usd(balance.available_micros),
        "balance_micros": balance.balance_micros,
        "arrears_usd": micros_to_usd(balance.arrears_micros),
        "arrears_micros": balance.arrears_micros,
    }
