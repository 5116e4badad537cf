"""The gate the server uses: static keys from settings, then keys from the key store.

* A credential equal to a ``TURNOUT_API_KEYS`` entry is a static principal (no limits, no
  balance: the operator's own key).
* Anything else is looked up in the key store (``sk-trn-...`` keys, with groups, limits,
  balances, IP allowlists and expiry).
* Open mode: while no static key is configured and the store never held a key, every
  request is let through as ``anonymous`` (the server only binds loopback then). Creating
  the first key ends open mode within a second, without a restart, and for good: a store
  that ever held a key stays closed when every key is deleted (``KeyStore.presence``), so
  every worker and replica agrees.

Whether the gateway is open is never asked on the request path: ``start`` asks the store
once, and while open a background task re-asks every ``OPEN_RECHECK_SECONDS`` (one cheap
query per worker, whatever the load); a request reads the answer from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from engine.access import Admission, Principal, Reservation, StaticKeyGate, UsageRecord
from engine.byok.vault import Vault
from engine.errors import Unauthorized
from engine.policy.compiled import CompiledPolicy
from engine.settings import Settings
from engine.state import State, open_state
from engine.state.gate import DatabaseGate
from engine.state.keys import KeyPresence

log = logging.getLogger("turnout")

OPEN_RECHECK_SECONDS = 0.5
CLOSED_WITHOUT_KEYS = (
    "every API key was deleted: the gateway stays closed (401 for every request: a store that held a key "
    "never runs open again); create one with `turnout keys create`"
)


async def open_store(settings: Settings) -> State:
    """The key store the settings point at (embedded SQLite, or PostgreSQL + Redis)."""
    return await open_state(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        secret_key=settings.secret_key,
        workers=settings.workers,
        vault=Vault.from_settings(settings.byok_key, settings.byok_old_keys),
    )


class KeyedGate:
    def __init__(
        self,
        static: StaticKeyGate,
        store: DatabaseGate,
        presence: Callable[[], Awaitable[KeyPresence]],
        recheck_seconds: float = OPEN_RECHECK_SECONDS,
    ) -> None:
        self._static = static
        self._store = store
        self._presence = presence
        self._recheck_seconds = recheck_seconds
        self._open = False  # closed until ``start`` has asked the store
        self._stop = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        """True while the gateway lets everyone in (no static key, and no key ever stored)."""
        return self._open

    async def start(self) -> KeyPresence | None:
        """Decide open mode (None: static keys exist, so never open); while open, watch the
        store in the background for the first key."""
        if not self._static.open:
            return None
        presence = await self._presence()
        self._open = not presence.ever
        if self._open and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_open(), name="turnout-open-mode")
        return presence

    async def _watch_open(self) -> None:
        while self._open:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._recheck_seconds)
                return
            try:
                presence = await self._presence()
            except Exception as exc:  # the store is unreachable: keep the last answer, try again
                log.warning("open-mode check failed (%s); retrying", exc)
                continue
            if presence.ever:
                self._open = False
                log.info("an API key exists now: open mode has ended (requests need a key)")

    async def authenticate(self, credential: str | None, client_ip: str, policy: CompiledPolicy) -> Principal:
        if self._open:  # no key anywhere: the static gate lets everyone in as ``anonymous``...
            if credential:  # ...but a key created a moment ago is already itself (limits, balance, BYOK)
                try:
                    return await self._store.authenticate(credential, client_ip, policy)
                except Unauthorized as err:
                    if err.code != "invalid_api_key":
                        raise
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
        self._stop.set()
        if self._watcher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._store.close()
