"""How one attempt of a call addresses its channel: URL, key (the caller's own provider key
on a BYOK channel), headers, params, output-cap field and what its model declares. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from engine.call import Call
from engine.policy.compiled import CompiledPolicy
from engine.routing.plan import Attempt
from providers.base import Endpoint

NO_KEYS: Mapping[str, str] = {}


def endpoint_for(policy: CompiledPolicy, attempt: Attempt, own_keys: Mapping[str, str] = NO_KEYS) -> Endpoint:
    """How an attempt addresses its channel (URL, key, headers, params, output-cap field);
    the caller's own provider key (BYOK) on a channel that allows it; what its model
    declares: the ``reasoning`` and ``system_messages`` capabilities."""
    c = policy.channels[attempt.target.channel]
    key = own_keys.get(c.name) if c.byok else None
    model = policy.models.get(attempt.target.model)
    capabilities = model.capabilities if model is not None else frozenset()
    return Endpoint(
        c.name,
        c.format,
        c.base_url,
        key or c.api_key,
        attempt.target.upstream_model,
        c.headers,
        c.params,
        c.max_tokens_field,
        reasoning="reasoning" in capabilities,
        system_messages="system_messages" in capabilities,
    )


def own_keys(call: Call) -> Mapping[str, str]:
    return call.principal.byok_keys if call.byok is not None else NO_KEYS


def own_key(call: Call, endpoint: Endpoint) -> bool:
    return call.byok is not None and endpoint.channel in call.byok.channels
