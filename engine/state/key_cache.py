"""The in-memory key cache that keeps a database query off the request path.

Lookups hash the presented secret and read a dict. A miss asks the database once; unknown
hashes are remembered (bounded) since a random secret cannot become valid later. Entries
are dropped when a key changes: at once on a Redis event (``engine.state.key_events``),
and in any case on the next poll of the shared ``keys_version`` counter (every
``poll_interval`` seconds, 0.5 by default), which bounds revocation on every replica.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy.exc import SQLAlchemyError

from engine.state.ipallow import Network, parse_allowlist
from engine.state.key_secrets import KeyHasher
from engine.state.keys import KeyRecord, KeyStore
from engine.state.single_flight import SingleFlight

log = logging.getLogger(__name__)


NO_BYOK: Mapping[str, str] = MappingProxyType({})
ByokLoader = Callable[[str], Awaitable[Mapping[str, str]]]  # key id -> {channel: its own provider key}


@dataclass(frozen=True, slots=True)
class CachedKey:
    record: KeyRecord
    networks: tuple[Network, ...]  # the key's parsed IP allowlist
    byok: Mapping[str, str] = field(default_factory=lambda: NO_BYOK, repr=False)  # its own provider keys, opened


class KeyCache:
    def __init__(
        self,
        store: KeyStore,
        hasher: KeyHasher,
        *,
        poll_interval: float = 0.5,
        max_unknown: int = 10_000,
        byok: ByokLoader | None = None,
    ) -> None:
        self._store = store
        self._byok = byok
        self._hasher = hasher
        self._poll_interval = poll_interval
        self._max_unknown = max_unknown
        self._by_hash: dict[str, CachedKey] = {}
        self._hash_of: dict[str, str] = {}  # key id -> secret hash
        self._unknown: dict[str, None] = {}  # insertion-ordered set of unknown hashes
        self._generation = 0  # bumped by every invalidation, to discard racing fills
        self._version: int | None = None
        self._loads: SingleFlight[str, CachedKey | None] = SingleFlight()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def lookup(self, secret: str) -> CachedKey | None:
        secret_hash = self._hasher.hash(secret)
        hit = self._by_hash.get(secret_hash)
        if hit is not None:
            return hit
        if secret_hash in self._unknown:
            return None
        return await self._loads.run(secret_hash, lambda: self._load(secret_hash))

    async def _load(self, secret_hash: str) -> CachedKey | None:
        generation = self._generation
        record = await self._store.find_by_secret_hash(secret_hash)
        if record is None:
            self._remember_unknown(secret_hash)
            return None
        byok = await self._byok(record.id) if self._byok is not None else NO_BYOK
        entry = CachedKey(record, parse_allowlist(record.ip_allow), byok)
        if generation == self._generation:  # no invalidation raced the query
            self._by_hash[secret_hash] = entry
            self._hash_of[record.id] = secret_hash
        return entry

    def _remember_unknown(self, secret_hash: str) -> None:
        if len(self._unknown) >= self._max_unknown:
            del self._unknown[next(iter(self._unknown))]
        self._unknown[secret_hash] = None

    def by_id(self, key_id: str) -> CachedKey | None:
        secret_hash = self._hash_of.get(key_id)
        return None if secret_hash is None else self._by_hash.get(secret_hash)

    def invalidate(self, key_id: str) -> None:
        """Forget a key (changed, rotated or deleted); the next use reads the database."""
        self._generation += 1
        secret_hash = self._hash_of.pop(key_id, None)
        if secret_hash is not None:
            self._by_hash.pop(secret_hash, None)

    def __len__(self) -> int:
        return len(self._by_hash)

    async def poll_once(self) -> None:
        """Drop every cached key whose version changed since it was cached."""
        version = await self._store.keys_version()
        if version == self._version:
            return
        cached = {entry.record.id: entry.record.version for entry in self._by_hash.values()}
        current = await self._store.versions(cached) if cached else {}
        for key_id, seen in cached.items():
            if current.get(key_id) != seen:
                self.invalidate(key_id)
        self._version = version

    async def start(self) -> None:
        self._version = await self._store.keys_version()
        self._task = asyncio.create_task(self._poll_loop(), name="turnout-key-cache-poll")

    async def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self._poll_interval)
                return
            except TimeoutError:
                pass
            try:
                await self.poll_once()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("key cache poll failed (%s); retrying", exc)

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task  # a poll in progress finishes its query first
            self._task = None
