"""Callers' own provider keys (BYOK) in the database, sealed (``engine.byok.vault``).

Storing or removing one bumps the owning API key's version, so every replica's key cache
drops that key and reads its provider keys again on the next request (as for any key
change). The plaintext is never stored, logged or returned: ``channels`` lists what is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.byok.vault import Sealed, Vault
from engine.state.errors import InvalidInput, NotFound
from engine.state.meta import KEYS_VERSION, bump_counter
from engine.state.schema import api_keys, byok_secrets


@dataclass(frozen=True, slots=True)
class ByokEntry:
    channel: str
    created_at: datetime


class ByokStore:
    def __init__(self, engine: AsyncEngine, on_change: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._engine = engine
        self._on_change = on_change

    async def put(self, key_id: str, channel: str, sealed: Sealed) -> None:
        if not channel.strip():
            raise InvalidInput("a BYOK secret needs the channel it is for")
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(byok_secrets).where(_row(key_id, channel)))
            await conn.execute(
                sa.insert(byok_secrets).values(
                    key_id=key_id,
                    channel=channel,
                    ciphertext=sealed.ciphertext,
                    key_fingerprint=sealed.key_fingerprint,
                    created_at=datetime.now(UTC),
                )
            )
            await _bump(conn, key_id)
        await self._changed(key_id)

    async def remove(self, key_id: str, channel: str) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(sa.delete(byok_secrets).where(_row(key_id, channel)))
            if not result.rowcount:
                raise NotFound(f"no BYOK secret for channel {channel!r} on this key")
            await _bump(conn, key_id)
        await self._changed(key_id)

    async def channels(self, key_id: str) -> list[ByokEntry]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(byok_secrets.c.channel, byok_secrets.c.created_at)
                .where(byok_secrets.c.key_id == key_id)
                .order_by(byok_secrets.c.channel)
            )
            return [ByokEntry(row.channel, row.created_at) for row in rows]

    async def sealed(self, key_id: str) -> dict[str, Sealed]:
        """Every sealed secret of one key, by channel (the key cache opens them)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(byok_secrets.c.channel, byok_secrets.c.ciphertext, byok_secrets.c.key_fingerprint).where(
                    byok_secrets.c.key_id == key_id
                )
            )
            return {row.channel: Sealed(bytes(row.ciphertext), row.key_fingerprint) for row in rows}

    async def reseal(self, vault: Vault) -> int:
        """Seal every secret again with the vault's current key (after a key rotation); how many."""
        changed: list[str] = []
        async with self._engine.begin() as conn:
            rows = (await conn.execute(sa.select(byok_secrets))).all()
            for row in rows:
                if row.key_fingerprint == vault.current_fingerprint:
                    continue
                secret = vault.open(Sealed(bytes(row.ciphertext), row.key_fingerprint), row.key_id, row.channel)
                sealed = vault.seal(secret, row.key_id, row.channel)
                await conn.execute(
                    sa.update(byok_secrets)
                    .where(_row(row.key_id, row.channel))
                    .values(ciphertext=sealed.ciphertext, key_fingerprint=sealed.key_fingerprint)
                )
                changed.append(row.key_id)
            for key_id in set(changed):
                await _bump(conn, key_id)
        for key_id in set(changed):
            await self._changed(key_id)
        return len(changed)

    async def _changed(self, key_id: str) -> None:
        if self._on_change is not None:
            await self._on_change(key_id)


def _row(key_id: str, channel: str) -> sa.ColumnElement[bool]:
    return sa.and_(byok_secrets.c.key_id == key_id, byok_secrets.c.channel == channel)


async def _bump(conn: AsyncConnection, key_id: str) -> None:
    version = await bump_counter(conn, KEYS_VERSION)
    await conn.execute(
        sa.update(api_keys).where(api_keys.c.id == key_id).values(version=version, updated_at=datetime.now(UTC))
    )
