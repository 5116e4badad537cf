"""Who is calling and what they may spend: the gate every client request passes.

The pipeline calls a ``Gate`` in this order, each step raising a ``GatewayError`` that the
client sees in its own format:

1. ``authenticate(credential, client_ip, policy)`` -> ``Principal`` (401 / 403 for IP)
2. ``authorize_model(principal, model, policy)`` (403 naming the model; the pure checks are
   ``key_group`` and ``allow_model``, which ``turnout test`` runs too)
3. ``admit(principal, policy, estimated_tokens)`` -> ``Admission`` (429 with headers);
   the admission holds a concurrency slot until ``release()``
4. ``reserve(principal, worst_case_usd)`` -> ``Reservation`` (402) before any upstream call
5. ``settle(reservation, actual_usd)`` after the call -> the overrun in USD (the part a
   prepaid balance could not cover, never charged), and ``record(rows)`` off the path

``StaticKeyGate`` is the gate before key management: keys from ``TURNOUT_API_KEYS``,
compared in constant time, no limits, no balances. The database-backed gate lives in
``engine.state``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple, Protocol

from engine.errors import Forbidden, Unauthorized
from engine.policy.compiled import CompiledPolicy, GroupSpec

NO_KEYS: Mapping[str, str] = MappingProxyType({})

if TYPE_CHECKING:
    from engine.replay.recorded import RoutingRecord


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str | None  # None for static keys and open mode
    key_name: str
    account_id: str | None
    group: str
    tags: tuple[str, ...] = ()
    models: tuple[str, ...] = ("*",)  # the key's own narrowing of its group's globs
    # Its own provider keys by channel (BYOK), when its group allows them; never shown.
    byok_keys: Mapping[str, str] = field(default_factory=lambda: NO_KEYS, repr=False)


@dataclass(slots=True)
class Admission:
    """A request admitted by the rate limiter; ``headers`` go on the response."""

    headers: dict[str, str] = field(default_factory=dict)
    slot_held: bool = False


@dataclass(slots=True)
class Reservation:
    reservation_id: str | None
    account_id: str | None
    amount_usd: float


class UsageRecord(NamedTuple):
    """One row of the usage log: a request (attempt=None) or one attempt of it.

    A ``NamedTuple`` rather than a frozen dataclass: the pipeline builds two or more per
    request, and a tuple is about three times cheaper to construct (see
    ``tests/bench/bench_usage_log.py``). The usage log converts it at write time.
    """

    request_id: str
    attempt: int | None
    at: datetime
    account_id: str | None
    key_id: str | None
    endpoint: str
    model_requested: str
    alias_rule: str | None
    model_served: str | None
    channel: str | None
    status: int
    error_type: str | None
    latency_ms: float
    ttfb_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float
    policy_version: str
    byok: bool = False
    estimated: bool = False  # tokens counted by Turnout (the upstream reported no usage)
    overrun_usd: float = 0.0  # cost a prepaid balance could not cover (not charged)
    routing: RoutingRecord | None = None  # request rows: the facts the plan read (``engine.replay.recorded``)
    canary_version: str | None = None  # the canary the request was sent to, served or rescued (``engine.canary``)


class Gate(Protocol):
    async def authenticate(self, credential: str | None, client_ip: str, policy: CompiledPolicy) -> Principal: ...

    def authorize_model(self, principal: Principal, model: str, policy: CompiledPolicy) -> None: ...

    async def admit(self, principal: Principal, policy: CompiledPolicy, estimated_tokens: int) -> Admission: ...

    async def release(self, principal: Principal, admission: Admission, used_tokens: int) -> None: ...

    async def reserve(self, principal: Principal, amount_usd: float) -> Reservation: ...

    async def settle(self, reservation: Reservation, actual_usd: float) -> float:
        """Charge ``actual_usd`` and release the hold; returns the overrun not charged (0.0)."""
        ...

    def record(self, rows: list[UsageRecord]) -> None: ...

    async def close(self) -> None: ...


def key_group(policy: CompiledPolicy, name: str) -> GroupSpec:
    """The policy's settings for a key's group (403 when the policy does not define it)."""
    if not policy.groups:
        return GroupSpec(name)  # a policy without groups restricts nothing
    spec = policy.groups.get(name)
    if spec is None:
        raise Forbidden(
            f"this key's group '{name}' is not defined in the policy (groups: {', '.join(sorted(policy.groups))})",
            code="group_not_found",
        )
    return spec


def allow_model(group: GroupSpec, key_name: str, key_models: tuple[str, ...], model: str) -> None:
    """403 ``model_not_allowed`` unless both the group's and the key's globs match ``model``."""
    if _matches(model, group.models) and _matches(model, key_models):
        return
    raise Forbidden(
        f"model '{model}' is not allowed for API key '{key_name}' "
        f"(group '{group.name}' allows {', '.join(group.models)}; the key allows {', '.join(key_models)})",
        code="model_not_allowed",
        param="model",
    )


def _matches(model: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatchcase(model, glob) for glob in globs)


class StaticKeyGate:
    """Keys from settings; with none configured the gateway is open (loopback only)."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [k.encode() for k in keys if k]
        self._anonymous = Principal(None, "anonymous", None, "default")  # immutable: one each
        self._static = Principal(None, "static", None, "default")

    @property
    def open(self) -> bool:
        return not self._keys

    async def authenticate(self, credential: str | None, client_ip: str, policy: CompiledPolicy) -> Principal:
        if not self._keys:
            return self._anonymous
        if not credential:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
        given = credential.encode()
        ok = False
        for key in self._keys:
            # compare against every key so timing does not reveal which one matched
            ok = hmac.compare_digest(given, key) | ok
        if not ok:
            raise Unauthorized("invalid API key", code="invalid_api_key")
        return self._static

    def authorize_model(self, principal: Principal, model: str, policy: CompiledPolicy) -> None:
        return None

    async def admit(self, principal: Principal, policy: CompiledPolicy, estimated_tokens: int) -> Admission:
        return Admission()

    async def release(self, principal: Principal, admission: Admission, used_tokens: int) -> None:
        return None

    async def reserve(self, principal: Principal, amount_usd: float) -> Reservation:
        return Reservation(None, None, 0.0)

    async def settle(self, reservation: Reservation, actual_usd: float) -> float:
        return 0.0

    def record(self, rows: list[UsageRecord]) -> None:
        return None

    async def close(self) -> None:
        return None
