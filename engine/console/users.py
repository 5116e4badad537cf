"""Console users: a person who signs in (e-mail and password), owning one billing account.

Registration creates the user and its account together. ``role`` is ``user`` or ``admin``;
the first admin comes from the CLI (``turnout accounts create-admin``). A disabled user
cannot sign in, its sessions and tokens stop working, and its account's API keys are
disabled through the key store (so every replica refuses them within a second).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.console.passwords import check_password, hash_password, verify_password
from engine.state.accounts import insert_account
from engine.state.errors import Conflict, InvalidInput, NotFound
from engine.state.schema import invites, users

Role = Literal["user", "admin"]
Registration = Literal["open", "invite", "closed"]
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,189}\.[^@\s<>\"'.]{1,63}$")


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    role: Role
    account_id: str
    disabled: bool
    created_at: datetime

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def normalize_email(email: str) -> str:
    cleaned = email.strip().lower()
    if not _EMAIL.match(cleaned):
        raise InvalidInput(f"not an e-mail address: {email!r}")
    return cleaned


def digest(token: str) -> str:
    """What is stored for a session, token or invite code: its SHA-256 (they are random, 256 bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: sa.RowMapping) -> User:
    role: Role = "admin" if row["role"] == "admin" else "user"
    return User(
        str(row["id"]),
        str(row["email"]),
        role,
        str(row["account_id"]),
        bool(row["disabled"]),
        row["created_at"],
    )


_COLUMNS = tuple(c for c in users.c if c.name != "password_hash")


class UserStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self, email: str, password: str, *, role: Role = "user", invite: str | None = None, prepaid: bool = True
    ) -> User:
        """A new user and its own billing account (prepaid by default: it spends credits it bought).

        ``invite``: a code from ``create_invite``, used up here (checked by the caller's mode)."""
        address = normalize_email(email)
        problem = check_password(password)
        if problem is not None:
            raise InvalidInput(problem)
        hashed = hash_password(password)
        now = datetime.now(UTC)
        user_id = "u_" + secrets.token_hex(8)
        account_id = "acct-" + secrets.token_hex(6)
        try:
            async with self._engine.begin() as conn:
                if invite is not None:
                    await _use_invite(conn, invite, user_id, now)
                await insert_account(conn, account_id, prepaid=prepaid)
                await conn.execute(
                    sa.insert(users).values(
                        id=user_id,
                        email=address,
                        password_hash=hashed,
                        role=role,
                        account_id=account_id,
                        disabled=False,
                        created_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(f"an account with the e-mail {address!r} already exists") from None
        return User(user_id, address, role, account_id, False, now)

    async def check_login(self, email: str, password: str) -> User | None:
        """The user whose password this is, else None (unknown address, wrong password)."""
        try:
            address = normalize_email(email)
        except InvalidInput:
            address = ""
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(users).where(users.c.email == address))).mappings().first()
                if address
                else None
            )
        stored = str(row["password_hash"]) if row is not None else None
        if not verify_password(stored, password) or row is None:
            return None
        return _user(row)

    async def get(self, user_id: str) -> User:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(*_COLUMNS).where(users.c.id == user_id))).mappings().first()
        if row is None:
            raise NotFound(f"no user {user_id!r}")
        return _user(row)

    async def by_account(self, account_id: str) -> User | None:
        async with self._engine.connect() as conn:
            statement = sa.select(*_COLUMNS).where(users.c.account_id == account_id)
            row = (await conn.execute(statement)).mappings().first()
        return _user(row) if row is not None else None

    async def list(self) -> list[User]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(*_COLUMNS).order_by(users.c.created_at))).mappings().all()
        return [_user(r) for r in rows]

    async def set_disabled(self, user_id: str, disabled: bool) -> User:
        async with self._engine.begin() as conn:
            result = await conn.execute(sa.update(users).where(users.c.id == user_id).values(disabled=disabled))
        if result.rowcount == 0:
            raise NotFound(f"no user {user_id!r}")
        return await self.get(user_id)

    async def set_role(self, user_id: str, role: Role) -> User:
        async with self._engine.begin() as conn:
            result = await conn.execute(sa.update(users).where(users.c.id == user_id).values(role=role))
        if result.rowcount == 0:
            raise NotFound(f"no user {user_id!r}")
        return await self.get(user_id)

    async def find_email(self, email: str) -> User | None:
        address = normalize_email(email)
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(*_COLUMNS).where(users.c.email == address))).mappings().first()
        return _user(row) if row is not None else None

    async def create_invite(self, created_by: str | None) -> str:
        """A new invitation code (shown once; only its digest is kept)."""
        code = "inv-" + secrets.token_urlsafe(18)
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.insert(invites).values(code_hash=digest(code), created_at=datetime.now(UTC), created_by=created_by)
            )
        return code


async def _use_invite(conn: AsyncConnection, code: str, user_id: str, now: datetime) -> None:
    result = await conn.execute(
        sa.update(invites)
        .where(invites.c.code_hash == digest(code.strip()), invites.c.used_by.is_(None))
        .values(used_by=user_id, used_at=now)
    )
    if result.rowcount == 0:
        raise InvalidInput("the invitation code is unknown or was used already")
