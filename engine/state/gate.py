"""``DatabaseGate``: the ``engine.access.Gate`` backed by API keys, accounts, limits and the usage log.

Per request it reads the key from the in-memory ``KeyCache`` (no database query once the
key is cached), checks state, expiry, IP allowlists and model globs in memory, asks the
rate limiter (no I/O in-process, one Redis round trip when shared) and holds the worst
case on the ledger (no I/O embedded; one conditional UPDATE on a shared database, and
none for postpaid accounts). Settling and usage rows are written in the background.

Group settings come from the policy: ``authenticate``, ``authorize_model`` and ``admit``
receive it; ``reserve`` does not, so it uses the groups of the last policy the gate saw.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.access import Admission, Principal, Reservation, UsageRecord, allow_model, key_group
from engine.errors import Forbidden, Unauthorized
from engine.policy.compiled import CompiledPolicy, GroupSpec
from engine.state.errors import NotFound
from engine.state.ipallow import Network, ip_allowed, parse_allowlist
from engine.state.key_cache import NO_BYOK, KeyCache
from engine.state.key_secrets import looks_like_secret
from engine.state.keys import KeyRecord, KeyStore
from engine.state.ledger import Hold, Ledger
from engine.state.money import micros_to_usd, usd_to_micros
from engine.state.ratelimit import Limits, RateLimiter, rate_headers, rejection
from engine.state.spend_rules import Caps
from engine.state.usage_log import UsageLog


@dataclass(slots=True)
class LimitAdmission(Admission):
    """An ``Admission`` that remembers what ``release`` must give back."""

    subject: str = ""
    limits: Limits = field(default_factory=Limits)
    slot: str | None = None
    estimated_tokens: int = 0
    released: bool = False


class DatabaseGate:
    def __init__(
        self,
        *,
        keys: KeyCache,
        store: KeyStore,
        limiter: RateLimiter,
        ledger: Ledger,
        usage: UsageLog,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._keys = keys
        self._store = store
        self._limiter = limiter
        self._ledger = ledger
        self._usage = usage
        self._on_close = on_close
        self._groups: Mapping[str, GroupSpec] = {}
        self._group_networks: dict[tuple[str, ...], tuple[Network, ...]] = {}

    # ---- authentication and authorisation -------------------------------------------

    async def authenticate(self, credential: str | None, client_ip: str, policy: CompiledPolicy) -> Principal:
        if not credential:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
        entry = await self._keys.lookup(credential) if looks_like_secret(credential) else None
        if entry is None:
            raise Unauthorized("invalid API key", code="invalid_api_key")
        key = entry.record
        if not key.enabled:
            raise Unauthorized(f"API key '{key.name}' is disabled", code="key_disabled")
        if key.expired(datetime.now(UTC)):
            assert key.expires_at is not None
            raise Unauthorized(
                f"API key '{key.name}' expired at {key.expires_at.isoformat(timespec='seconds')}", code="key_expired"
            )
        self._groups = policy.groups
        group = key_group(policy, key.group)
        if not ip_allowed(client_ip, entry.networks):
            raise Forbidden(
                f"client IP {client_ip} is not in the allowlist of API key '{key.name}'", code="ip_not_allowed"
            )
        if not ip_allowed(client_ip, self._networks(group)):
            raise Forbidden(
                f"client IP {client_ip} is not in the allowlist of key group '{group.name}'", code="ip_not_allowed"
            )
        byok = entry.byok if group.byok else NO_BYOK
        return Principal(key.id, key.name, key.account_id, key.group, key.tags, key.models, byok)

    def _networks(self, group: GroupSpec) -> tuple[Network, ...]:
        networks = self._group_networks.get(group.ip_allow)
        if networks is None:
            try:
                networks = parse_allowlist(group.ip_allow)
            except ValueError as exc:
                raise Forbidden(f"key group '{group.name}' has an invalid ip_allow entry: {exc}") from None
            self._group_networks[group.ip_allow] = networks
        return networks

    def authorize_model(self, principal: Principal, model: str, policy: CompiledPolicy) -> None:
        allow_model(key_group(policy, principal.group), principal.key_name, principal.models, model)

    # ---- rate limits ----------------------------------------------------------------

    async def admit(self, principal: Principal, policy: CompiledPolicy, estimated_tokens: int) -> Admission:
        group = key_group(policy, principal.group)
        limits = Limits(group.rpm, group.tpm, group.concurrent)
        if not limits.any:
            return LimitAdmission()
        subject = principal.key_id or principal.key_name
        decision = await self._limiter.admit(subject, limits, estimated_tokens)
        if not decision.allowed:
            raise rejection(limits, decision)
        return LimitAdmission(
            headers=rate_headers(limits, decision),
            slot_held=decision.slot is not None,
            subject=subject,
            limits=limits,
            slot=decision.slot,
            estimated_tokens=max(estimated_tokens, 0),
        )

    async def release(self, principal: Principal, admission: Admission, used_tokens: int) -> None:
        if not isinstance(admission, LimitAdmission) or admission.released or not admission.limits.any:
            return
        admission.released = True
        admission.slot_held = False
        delta = max(used_tokens, 0) - admission.estimated_tokens if admission.limits.tpm else 0
        await self._limiter.release(admission.subject, admission.limits, admission.slot, delta)

    # ---- money ----------------------------------------------------------------------

    async def reserve(self, principal: Principal, amount_usd: float) -> Reservation:
        if principal.account_id is None:
            return Reservation(None, None, 0.0)
        key = await self._key_record(principal.key_id)
        group = self._groups.get(principal.group)
        caps = Caps(
            quota_micros=key.quota_micros if key is not None else None,
            day_micros=_micros(group.budget_day_usd) if group is not None else None,
            month_micros=_micros(group.budget_month_usd) if group is not None else None,
        )
        amount = usd_to_micros(max(amount_usd, 0.0), round_up=True)
        return await self._ledger.reserve(principal.account_id, principal.key_id, amount, caps)

    async def _key_record(self, key_id: str | None) -> KeyRecord | None:
        if key_id is None:
            return None
        cached = self._keys.by_id(key_id)
        if cached is not None:
            return cached.record
        try:
            return await self._store.get(key_id)
        except NotFound:
            raise Unauthorized("invalid API key (it was deleted)", code="invalid_api_key") from None

    async def settle(self, reservation: Reservation, actual_usd: float) -> float:
        """Charge and release; returns the overrun in USD (cost a prepaid balance could not cover)."""
        if not isinstance(reservation, Hold):
            return 0.0
        overrun = await self._ledger.settle(reservation, usd_to_micros(max(actual_usd, 0.0)))
        return micros_to_usd(overrun)

    def record(self, rows: list[UsageRecord]) -> None:
        self._usage.record(rows)

    async def close(self) -> None:
        if self._on_close is not None:
            await self._on_close()


def _micros(usd: float | None) -> int | None:
    return None if usd is None else usd_to_micros(usd)


if TYPE_CHECKING:
    from engine.access import Gate

    _conforms: type[Gate] = DatabaseGate  # mypy checks the protocol here
