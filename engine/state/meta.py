"""The ``turnout_meta`` table: named counters and values shared by every replica.

``keys_version`` is bumped in the same transaction as any key change; replicas poll it to
notice revocations made elsewhere. ``key_hash_fingerprint`` pins the HMAC key the stored
key hashes were made with, so a replica started with another secret fails loudly.
``keys_ever_created`` is set (once, never cleared) by the first key created or deleted: a
store that ever held a key never runs open again, even with every key deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.state.db import upsert_adding
from engine.state.schema import meta

KEYS_VERSION = "keys_version"
KEY_HASH_FINGERPRINT = "key_hash_fingerprint"
KEYS_EVER_CREATED = "keys_ever_created"


async def bump_counter(conn: AsyncConnection, name: str) -> int:
    statement = upsert_adding(
        conn.dialect.name, meta, [{"name": name, "int_value": 1, "text_value": None}], ["name"], ["int_value"]
    ).returning(meta.c.int_value)
    return int((await conn.execute(statement)).scalar_one())


async def read_counter(conn: AsyncConnection, name: str) -> int:
    value = (await conn.execute(sa.select(meta.c.int_value).where(meta.c.name == name))).scalar()
    return int(value or 0)


async def set_flag(conn: AsyncConnection, name: str) -> None:
    """Set the named flag (an ``int_value`` of 1); a flag already set stays as it is."""
    row = {"name": name, "int_value": 1, "text_value": None}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(meta).values(row).on_conflict_do_nothing(index_elements=["name"]))


def flag_is_set(name: str) -> sa.Exists:
    """``EXISTS`` the named flag, to put in a larger query."""
    return sa.exists().where(meta.c.name == name)


async def read_text(conn: AsyncConnection, name: str) -> str | None:
    value = (await conn.execute(sa.select(meta.c.text_value).where(meta.c.name == name))).scalar()
    return None if value is None else str(value)


async def set_text_once(conn: AsyncConnection, name: str, value: str) -> str:
    """Store ``value`` unless a value is already there; returns the stored value.

    Replicas starting at once on a fresh database race here: the insert does nothing when
    another one stored a value first (waiting for its transaction), and that value wins."""
    current = await read_text(conn, name)
    if current is not None:
        return current
    row = {"name": name, "int_value": None, "text_value": value}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(meta).values(row).on_conflict_do_nothing(index_elements=["name"]))
    stored = await read_text(conn, name)
    return value if stored is None else stored


async def delete_value(conn: AsyncConnection, name: str) -> bool:
    """Remove the named value; False when there was none."""
    result = await conn.execute(sa.delete(meta).where(meta.c.name == name))
    return bool(result.rowcount)
