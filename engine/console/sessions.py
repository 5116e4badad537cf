"""Console sessions (the cookie) and account tokens (``Authorization: Bearer tat-...`` for
scripts): random 256-bit values of which only a SHA-256 is stored.

A session lasts ``SESSION_TTL``, a token ``TOKEN_TTL``; both end at logout, and neither works
for a disabled user. Neither is an API key: the data plane never looks them up.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.console.users import User, _user, digest
from engine.state.schema import user_sessions, users

Kind = Literal["session", "token"]
SESSION_TTL = timedelta(days=7)
TOKEN_TTL = timedelta(days=90)
SESSION_PREFIX = "tss-"
TOKEN_PREFIX = "tat-"


def looks_like_account_token(credential: str) -> bool:
    return credential.startswith(TOKEN_PREFIX)


class SessionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def issue(self, user_id: str, kind: Kind) -> str:
        prefix, ttl = (SESSION_PREFIX, SESSION_TTL) if kind == "session" else (TOKEN_PREFIX, TOKEN_TTL)
        token = prefix + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.insert(user_sessions).values(
                    token_hash=digest(token), user_id=user_id, kind=kind, created_at=now, expires_at=now + ttl
                )
            )
        return token

    async def resolve(self, token: str, kind: Kind) -> User | None:
        """The enabled user a live session or token belongs to, else None."""
        now = datetime.now(UTC)
        statement = (
            sa.select(*(c for c in users.c if c.name != "password_hash"))
            .select_from(user_sessions.join(users, users.c.id == user_sessions.c.user_id))
            .where(
                user_sessions.c.token_hash == digest(token),
                user_sessions.c.kind == kind,
                user_sessions.c.expires_at > now,
                users.c.disabled == sa.false(),
            )
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(statement)).mappings().first()
        return _user(row) if row is not None else None

    async def revoke(self, token: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(user_sessions).where(user_sessions.c.token_hash == digest(token)))

    async def revoke_all(self, user_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(user_sessions).where(user_sessions.c.user_id == user_id))

    async def prune(self) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(user_sessions).where(user_sessions.c.expires_at <= datetime.now(UTC)))
