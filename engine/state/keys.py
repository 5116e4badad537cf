"""API keys: create, list, change, rotate and delete; only a keyed hash of a secret is stored.

Every change bumps the shared ``keys_version`` in the same transaction and then publishes
the key id (``engine.state.key_events``), so every replica's ``KeyCache`` drops its copy.
A key bills one account: its own (named after the key, created with it) unless an
``account_id`` is given, which is created when missing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.state.accounts import check_account_id, fetch_account, insert_account
from engine.state.errors import Conflict, InvalidInput, NotFound, StateConfigError
from engine.state.ipallow import parse_allowlist
from engine.state.key_secrets import KeyHasher, generate_secret, shown_prefix
from engine.state.meta import (
    KEY_HASH_FINGERPRINT,
    KEYS_EVER_CREATED,
    KEYS_VERSION,
    bump_counter,
    flag_is_set,
    read_counter,
    set_flag,
    set_text_once,
)
from engine.state.schema import api_keys, byok_secrets, key_spend

_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
OnChange = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as stored, without its secret or hash."""

    id: str
    name: str
    prefix: str
    group: str
    models: tuple[str, ...]
    ip_allow: tuple[str, ...]
    tags: tuple[str, ...]
    expires_at: datetime | None
    quota_micros: int | None
    enabled: bool
    spend_micros: int
    account_id: str
    created_at: datetime
    updated_at: datetime
    version: int

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class NewKey:
    name: str
    group: str = "default"
    models: tuple[str, ...] = ("*",)  # globs narrowing the group's
    ip_allow: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    expires_at: datetime | None = None
    quota_micros: int | None = None  # lifetime spend cap
    account_id: str | None = None  # None: an account named after the key
    prepaid: bool = False  # for an account created now


@dataclass(frozen=True, slots=True)
class KeyPatch:
    """Changes to a key; ``None`` leaves a field as it is."""

    group: str | None = None
    models: tuple[str, ...] | None = None
    ip_allow: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    expires_at: datetime | None = None
    clear_expiry: bool = False
    quota_micros: int | None = None
    clear_quota: bool = False
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class KeyPresence:
    """Whether the store holds a key now, and whether it ever held one (a store that did is
    never open again: deleting every key leaves the gateway closed)."""

    any_now: bool
    ever: bool


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: KeyRecord
    secret: str  # shown once, never stored
    account_created: bool = False


_COLUMNS = tuple(c for c in api_keys.c if c.name != "secret_hash")


def _record(row: sa.RowMapping) -> KeyRecord:
    return KeyRecord(
        id=str(row["id"]),
        name=str(row["name"]),
        prefix=str(row["prefix"]),
        group=str(row["group_name"]),
        models=tuple(row["models"]),
        ip_allow=tuple(row["ip_allow"]),
        tags=tuple(row["tags"]),
        expires_at=row["expires_at"],
        quota_micros=None if row["quota_micros"] is None else int(row["quota_micros"]),
        enabled=bool(row["enabled"]),
        spend_micros=int(row["spend_micros"]),
        account_id=str(row["account_id"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=int(row["version"]),
    )


def _check_globs(kind: str, globs: Iterable[str]) -> tuple[str, ...]:
    cleaned = tuple(g.strip() for g in globs)
    if not cleaned or any(not g for g in cleaned):
        raise InvalidInput(f"{kind} needs at least one non-empty glob (use '*' for all)")
    return cleaned


def _check_group(group: str, known_groups: Collection[str] | None) -> str:
    if known_groups is not None and known_groups and group not in known_groups:
        raise InvalidInput(f"unknown group {group!r}; the policy defines: {', '.join(sorted(known_groups))}")
    return group


def _check_ips(entries: tuple[str, ...]) -> tuple[str, ...]:
    try:
        parse_allowlist(entries)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return tuple(e.strip() for e in entries)


def _check_quota(quota: int | None) -> int | None:
    if quota is not None and quota < 0:
        raise InvalidInput("a quota must not be negative")
    return quota


class KeyStore:
    """Key management against the database; ``on_change(key_id)`` runs after each commit."""

    def __init__(self, engine: AsyncEngine, hasher: KeyHasher, on_change: OnChange | None = None) -> None:
        self._engine = engine
        self._hasher = hasher
        self._on_change = on_change

    async def verify_hash_key(self) -> None:
        """Refuse to work with a secret key other than the one the stored hashes were made with."""
        async with self._engine.begin() as conn:
            stored = await set_text_once(conn, KEY_HASH_FINGERPRINT, self._hasher.fingerprint())
        if stored != self._hasher.fingerprint():
            raise StateConfigError(
                "TURNOUT_SECRET_KEY is not the one the stored API keys were hashed with "
                "(every replica and the CLI must use the same secret key; without one, the key file in the data dir)"
            )

    async def create(self, spec: NewKey, *, known_groups: Collection[str] | None = None) -> CreatedKey:
        if not _KEY_NAME.match(spec.name):
            raise InvalidInput(
                f"invalid key name {spec.name!r}: use 1-128 letters, digits and . _ : @ - "
                "(starting with a letter or digit)"
            )
        group = _check_group(spec.group, known_groups)
        models, ips = _check_globs("models", spec.models), _check_ips(spec.ip_allow)
        quota = _check_quota(spec.quota_micros)
        secret = generate_secret()
        now = datetime.now(UTC)
        key_id = "k_" + secrets.token_hex(8)
        account_id = check_account_id(spec.account_id or spec.name)
        try:
            async with self._engine.begin() as conn:
                existing = await fetch_account(conn, account_id)
                if existing is not None and spec.account_id is None:
                    raise Conflict(
                        f"an account named {account_id!r} already exists: pass account {account_id!r} "
                        "explicitly to bill it, or choose another key name"
                    )
                if existing is None:
                    await insert_account(conn, account_id, prepaid=spec.prepaid)
                version = await bump_counter(conn, KEYS_VERSION)
                await set_flag(conn, KEYS_EVER_CREATED)
                values: dict[str, Any] = dict(
                    id=key_id,
                    name=spec.name,
                    prefix=shown_prefix(secret),
                    secret_hash=self._hasher.hash(secret),
                    group_name=group,
                    models=list(models),
                    ip_allow=list(ips),
                    tags=list(spec.tags),
                    expires_at=spec.expires_at,
                    quota_micros=quota,
                    enabled=True,
                    spend_micros=0,
                    account_id=account_id,
                    created_at=now,
                    updated_at=now,
                    version=version,
                )
                await conn.execute(sa.insert(api_keys).values(**values))
        except IntegrityError:
            raise Conflict(f"a key named {spec.name!r} already exists") from None
        record = await self.get(key_id)
        return CreatedKey(record, secret, account_created=existing is None)

    async def list(self) -> list[KeyRecord]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(*_COLUMNS).order_by(api_keys.c.name))).mappings().all()
        return [_record(row) for row in rows]

    async def get(self, ref: str) -> KeyRecord:
        """A key by id or name."""
        async with self._engine.connect() as conn:
            return await self._get(conn, ref)

    async def _get(self, conn: AsyncConnection, ref: str) -> KeyRecord:
        statement = sa.select(*_COLUMNS).where(sa.or_(api_keys.c.id == ref, api_keys.c.name == ref))
        row = (await conn.execute(statement)).mappings().first()
        if row is None:
            raise NotFound(f"no API key with id or name {ref!r}")
        return _record(row)

    async def find_by_secret_hash(self, secret_hash: str) -> KeyRecord | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(*_COLUMNS).where(api_keys.c.secret_hash == secret_hash)))
                .mappings()
                .first()
            )
        return None if row is None else _record(row)

    async def presence(self) -> KeyPresence:
        """Whether any key exists, and whether one ever did: one cheap query (two EXISTS)."""
        any_now = sa.select(api_keys.c.id).exists()
        statement = sa.select(any_now.label("any_now"), flag_is_set(KEYS_EVER_CREATED).label("ever"))
        async with self._engine.connect() as conn:
            row = (await conn.execute(statement)).one()
        return KeyPresence(any_now=bool(row.any_now), ever=bool(row.any_now) or bool(row.ever))

    async def keys_version(self) -> int:
        """The shared counter every key change bumps."""
        async with self._engine.connect() as conn:
            return await read_counter(conn, KEYS_VERSION)

    async def versions(self, key_ids: Collection[str]) -> dict[str, int]:
        """The current version of each of ``key_ids`` that still exists."""
        found: dict[str, int] = {}
        ids = list(key_ids)
        async with self._engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = await conn.execute(sa.select(api_keys.c.id, api_keys.c.version).where(api_keys.c.id.in_(chunk)))
                found.update({str(r[0]): int(r[1]) for r in rows})
        return found

    async def update(self, ref: str, patch: KeyPatch, *, known_groups: Collection[str] | None = None) -> KeyRecord:
        values: dict[str, Any] = {}
        if patch.group is not None:
            values["group_name"] = _check_group(patch.group, known_groups)
        if patch.models is not None:
            values["models"] = list(_check_globs("models", patch.models))
        if patch.ip_allow is not None:
            values["ip_allow"] = list(_check_ips(patch.ip_allow))
        if patch.tags is not None:
            values["tags"] = list(patch.tags)
        if patch.clear_expiry or patch.expires_at is not None:
            values["expires_at"] = None if patch.clear_expiry else patch.expires_at
        if patch.clear_quota or patch.quota_micros is not None:
            values["quota_micros"] = None if patch.clear_quota else _check_quota(patch.quota_micros)
        if patch.enabled is not None:
            values["enabled"] = patch.enabled
        return await self._change(ref, values)

    async def set_enabled(self, ref: str, enabled: bool) -> KeyRecord:
        return await self._change(ref, {"enabled": enabled})

    async def rotate(self, ref: str) -> CreatedKey:
        """A new secret for the key; the old one stops working at once."""
        secret = generate_secret()
        record = await self._change(ref, {"secret_hash": self._hasher.hash(secret), "prefix": shown_prefix(secret)})
        return CreatedKey(record, secret)

    async def delete(self, ref: str) -> KeyRecord:
        async with self._engine.begin() as conn:
            record = await self._get(conn, ref)
            await conn.execute(sa.delete(byok_secrets).where(byok_secrets.c.key_id == record.id))
            await conn.execute(sa.delete(api_keys).where(api_keys.c.id == record.id))
            await conn.execute(sa.delete(key_spend).where(key_spend.c.key_id == record.id))
            await bump_counter(conn, KEYS_VERSION)
            await set_flag(conn, KEYS_EVER_CREATED)  # for a key made before the flag existed
        await self._changed(record.id)
        return record

    async def _change(self, ref: str, values: dict[str, Any]) -> KeyRecord:
        async with self._engine.begin() as conn:
            record = await self._get(conn, ref)
            if values:
                version = await bump_counter(conn, KEYS_VERSION)
                now = datetime.now(UTC)
                await conn.execute(
                    sa.update(api_keys)
                    .where(api_keys.c.id == record.id)
                    .values(**values, updated_at=now, version=version)
                )
                record = await self._get(conn, record.id)
        await self._changed(record.id)
        return record

    async def _changed(self, key_id: str) -> None:
        if self._on_change is not None:
            await self._on_change(key_id)
