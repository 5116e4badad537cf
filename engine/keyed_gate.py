"""The gate the server uses: static keys from settings, then keys from the key store.

* A credential equal to a ``TURNOUT_API_KEYS`` entry is a static principal (no limits, no
  balance: the operator's own key).
* Anything else is looked up in the key store (``sk-trn-...`` keys, with groups, limits,
  balances, IP allowlists and expiry).
* Open mode: while no static key is configured and the store holds no key, every request
  is let through as ``anonymous`` (the server only binds loopback then). Creating the first
  key ends open mode within a second, without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from engine.access import Admission, Principal, Reservation, StaticKeyGate, UsageRecord
from engine.errors import Unauthorized
from engine.policy.compiled import CompiledPolicy
from engine.settings import Settings
from engine.state import State, open_state
from engine.state.gate import DatabaseGate

OPEN_RECHECK_SECONDS = 1.0


async def open_store(settings: Settings) -> State:
    """The key store the settings point at (embedded SQLite, or PostgreSQL + Redis)."""
    return await open_state(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        secret_key=settings.secret_key,
        workers=settings.workers,
    )


class KeyedGate:
    def __init__(self, static: StaticKeyGate, store: DatabaseGate, count_keys: Callable[[], Awaitable[int]]) -> None:
        self._static = static
        self._store = store
        self._count_keys = count_keys
        self._open = False
        self._checked_at = 0.0

    async def refresh_open(self) -> bool:
        """Re-count keys; True while the gateway is open (no key anywhere)."""
        self._open = self._static.open and await self._count_keys() == 0
        self._checked_at = time.monotonic()
        return self._open

    async def authenticate(self, credential: str | None, client_ip: str, policy: CompiledPolicy) -> Principal:
        if self._open and time.monotonic() - self._checked_at > OPEN_RECHECK_SECONDS:
            await self.refresh_open()
        if self._open:  # no key anywhere: the static gate lets everyone in as ``anonymous``
            return await self._static.authenticate(credential, client_ip, policy)
        if credential and not self._static.open:
            try:
                return await self._static.authenticate(credential, client_ip, policy)
            except Unauthorized:
                pass
        return await self._store.authenticate(credential, client_ip, policy)

    def authorize_model(self, principal: Principal, model: str, policy: CompiledPolicy) -> None:
        if principal.key_id is not None:
            self._store.authorize_model(principal, model, policy)

    async def admit(self, principal: Principal, policy: CompiledPolicy, estimated_tokens: int) -> Admission:
        if principal.key_id is None:
            return Admission()
        return await self._store.admit(principal, policy, estimated_tokens)

    async def release(self, principal: Principal, admission: Admission, used_tokens: int) -> None:
        if principal.key_id is not None:
            await self._store.release(principal, admission, used_tokens)

    async def reserve(self, principal: Principal, amount_usd: float) -> Reservation:
        if principal.key_id is None:
            return Reservation(None, None, 0.0)
        return await self._store.reserve(principal, amount_usd)

    async def settle(self, reservation: Reservation, actual_usd: float) -> float:
        return await self._store.settle(reservation, actual_usd)

    def record(self, rows: list[UsageRecord]) -> None:
        self._store.record(rows)

    async def close(self) -> None:
        await self._store.close()
