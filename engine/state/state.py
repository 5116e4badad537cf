"""``open_state``: build the state store (database, Redis, key cache, ledger, limits, usage log).

Deployment shapes:

* **embedded** (default): SQLite in the data dir, one worker, in-process limits and
  in-memory holds. The schema is created and upgraded automatically on start.
* **replicas**: PostgreSQL + Redis (``database_url`` / ``redis_url``). Limits live in
  Redis, holds in the database, revocations travel over Redis pub/sub. The schema must
  be current: run ``turnout db upgrade`` after installing a new version.

More than one worker needs Redis, since in-process rate limits would not be shared.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import sqlalchemy as sa
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.byok.vault import Vault, VaultError
from engine.state.accounts import AccountStore
from engine.state.byok_store import ByokStore
from engine.state.db import (
    check_reachable,
    create_engine,
    database_label,
    default_database_url,
    is_sqlite_url,
    normalize_database_url,
    reason,
)
from engine.state.errors import StateConfigError
from engine.state.gate import DatabaseGate
from engine.state.key_cache import NO_BYOK, ByokLoader, KeyCache
from engine.state.key_events import (
    KeyEventPublisher,
    KeyEventSubscriber,
    key_events_channel,
)
from engine.state.key_secrets import KeyHasher, load_hmac_key
from engine.state.keys import KeyStore
from engine.state.ledger import Ledger
from engine.state.migrate import schema_status, upgrade
from engine.state.ratelimit import LocalRateLimiter, RateLimiter
from engine.state.ratelimit_redis import RedisRateLimiter
from engine.state.usage_log import UsageLog

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tuning:
    """Intervals of the background tasks (seconds); tests shorten them."""

    key_poll_interval: float = 0.5
    ledger_flush_interval: float = 0.1
    ledger_refresh_interval: float = 1.0
    usage_flush_interval: float = 0.5


@dataclass(slots=True)
class State:
    engine: AsyncEngine
    redis: Redis | None
    hasher: KeyHasher
    keys: KeyStore
    accounts: AccountStore
    key_cache: KeyCache
    ledger: Ledger
    usage: UsageLog
    limiter: RateLimiter
    gate: DatabaseGate
    byok: ByokStore
    vault: Vault | None  # None: BYOK secrets can be neither stored nor used (TURNOUT_BYOK_KEY unset)
    _subscriber: KeyEventSubscriber | None = None
    _closed: bool = field(default=False)

    async def reachability(self, timeout: float) -> dict[str, str | None]:
        """Each dependency (``database``, and ``redis`` when configured): None when it answered
        within ``timeout`` seconds, else why not."""
        problems: dict[str, str | None] = {"database": None}
        try:
            async with asyncio.timeout(timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # any failure here means: not ready
            problems["database"] = reason(exc) or type(exc).__name__
        if self.redis is not None:
            problems["redis"] = None
            try:
                async with asyncio.timeout(timeout):
                    await self.redis.ping()
            except Exception as exc:
                problems["redis"] = reason(exc) or type(exc).__name__
        return problems

    async def close(self) -> None:
        """Flush the usage log and the ledger, then close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._subscriber is not None:
                await self._subscriber.close()
            await self.key_cache.close()
            await self.usage.close()
            await self.ledger.close()
            await self.limiter.close()
        finally:
            if self.redis is not None:
                await self.redis.aclose()
            await self.engine.dispose()


async def _prepare_schema(engine: AsyncEngine, sqlite: bool) -> None:
    status = await schema_status(engine)
    if status.state == "current":
        return
    if sqlite and status.state in ("empty", "behind"):
        log.info("creating or upgrading the embedded database (schema was %s)", status.state)
        await upgrade(engine)
        return
    raise StateConfigError(status.explain())


def byok_loader(store: ByokStore, vault: Vault | None) -> ByokLoader:
    """Opens a key's BYOK secrets when the key cache loads it. One that cannot be opened (no
    vault configured, a retired vault key, tampering) is left out and logged, never shown."""

    async def load(key_id: str) -> Mapping[str, str]:
        sealed = await store.sealed(key_id)
        opened: dict[str, str] = {}
        for channel, secret in sealed.items():
            if vault is None:
                log.error("key %s has a BYOK secret for %s but TURNOUT_BYOK_KEY is not set", key_id, channel)
                continue
            try:
                opened[channel] = vault.open(secret, key_id, channel)
            except VaultError as exc:
                log.error("key %s: %s", key_id, exc)
        return MappingProxyType(opened) if opened else NO_BYOK

    return load


async def _connect_redis(redis_url: str) -> Redis:
    try:
        redis = Redis.from_url(redis_url)
    except ValueError as exc:
        raise StateConfigError(f"TURNOUT_REDIS_URL is not a Redis URL: {exc}") from None
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        await redis.aclose()
        raise StateConfigError(f"cannot reach Redis at TURNOUT_REDIS_URL: {exc}") from None
    return redis


def _hasher(secret_key: str | None, data_dir: str | Path) -> KeyHasher:
    try:
        return KeyHasher(load_hmac_key(secret_key, data_dir))
    except ValueError as exc:
        raise StateConfigError(f"TURNOUT_SECRET_KEY: {exc}" if secret_key else str(exc)) from None
    except OSError as exc:
        raise StateConfigError(f"cannot read or create the key file in {data_dir}: {exc.strerror or exc}") from None


async def open_state(
    *,
    data_dir: str | Path,
    database_url: str | None,
    redis_url: str | None,
    secret_key: str | None,
    workers: int = 1,
    db_schema: str | None = None,
    redis_prefix: str = "turnout:",
    tuning: Tuning = Tuning(),
    vault: Vault | None = None,
) -> State:
    """Open the state store; raises ``StateConfigError`` with a fix when it cannot start."""
    if workers > 1 and not redis_url:
        raise StateConfigError(
            f"more than one worker needs TURNOUT_REDIS_URL so rate limits are shared: {workers} workers "
            "were asked for; set TURNOUT_REDIS_URL (e.g. redis://127.0.0.1:6379/0) or run one worker"
        )
    url = normalize_database_url(database_url) if database_url else default_database_url(data_dir)
    sqlite = is_sqlite_url(url)
    where = database_label(url, configured=database_url is not None)
    engine = create_engine(url, schema=db_schema)
    redis: Redis | None = None
    try:
        await check_reachable(engine, where)
        await _prepare_schema(engine, sqlite)
        hasher = _hasher(secret_key, data_dir)
        redis = await _connect_redis(redis_url) if redis_url else None
        publisher = KeyEventPublisher(redis, key_events_channel(redis_prefix))

        async def on_key_change(key_id: str) -> None:
            key_cache.invalidate(key_id)  # this process at once; other replicas via Redis or their poll
            await publisher.publish(key_id)

        keys = KeyStore(engine, hasher, on_change=on_key_change)
        await keys.verify_hash_key()
        byok = ByokStore(engine, on_change=on_key_change)
        key_cache = KeyCache(keys, hasher, poll_interval=tuning.key_poll_interval, byok=byok_loader(byok, vault))
        await key_cache.start()
        subscriber = None
        if redis is not None:
            subscriber = KeyEventSubscriber(redis, key_events_channel(redis_prefix), key_cache.invalidate)
            try:
                await subscriber.start()
            except BaseException:
                await key_cache.close()
                raise
        ledger = Ledger(
            engine,
            shared=not sqlite or workers > 1,
            flush_interval=tuning.ledger_flush_interval,
            refresh_interval=tuning.ledger_refresh_interval,
        )
        ledger.start()
        usage = UsageLog(engine, flush_interval=tuning.usage_flush_interval)
        usage.start()
        limiter: RateLimiter = RedisRateLimiter(redis, redis_prefix) if redis is not None else LocalRateLimiter()
        opened: list[State] = []

        async def close_state() -> None:
            for each in opened:
                await each.close()

        gate = DatabaseGate(
            keys=key_cache, store=keys, limiter=limiter, ledger=ledger, usage=usage, on_close=close_state
        )
        state = State(
            engine=engine,
            redis=redis,
            hasher=hasher,
            keys=keys,
            accounts=AccountStore(engine),
            key_cache=key_cache,
            ledger=ledger,
            usage=usage,
            limiter=limiter,
            gate=gate,
            byok=byok,
            vault=vault,
            _subscriber=subscriber,
        )
        opened.append(state)
        return state
    except BaseException:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
        raise
