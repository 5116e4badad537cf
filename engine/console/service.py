"""The account operations behind both the JSON account API and the console pages.

One ``Accounts`` per worker, over the open key store (``engine.state.State``): registration
by the configured mode, login with rate limits per account and per IP, an account's keys
(the key store's own create and delete, so a revoked key is refused on every replica within
a second), credits (balance and ledger), top-ups, usage; and the admin operations. Every
method that takes a ``User`` acts for that user and sees only that user's account, unless
the method is an admin one (checked here, not only in the handlers).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.byok import register as byok
from engine.console.sessions import SessionStore
from engine.console.topups import InvoiceProvider, Topup, TopupStore
from engine.console.users import Registration, User, UserStore
from engine.errors import Forbidden, RateLimited, Unauthorized
from engine.policy.compiled import CompiledPolicy
from engine.state.errors import InvalidInput, NotFound
from engine.state.keys import CreatedKey, KeyRecord, NewKey
from engine.state.ledger import Balance
from engine.state.ratelimit import Limits
from engine.state.schema import key_labels, ledger
from engine.state.state import State
from engine.state.usage_report import UsageQuery, UsageRollup, usage_rollups


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    registration: Registration = "invite"
    groups: tuple[str, ...] = ("default",)  # the groups a user may give their keys (admins: any)
    prepaid: bool = True  # new accounts spend credits they bought
    login_per_account_rpm: int = 10  # sign-in attempts a minute naming one account
    login_per_ip_rpm: int = 30  # sign-in attempts a minute from one client address


@dataclass(frozen=True, slots=True)
class KeyRequest:
    label: str
    group: str = "default"
    models: tuple[str, ...] = ("*",)
    ip_allow: tuple[str, ...] = ()
    expires_at: datetime | None = None
    quota_micros: int | None = None
    byok: tuple[tuple[str, str], ...] = ()  # (channel, the caller's own provider key)


@dataclass(frozen=True, slots=True)
class AccountKey:
    key: KeyRecord
    label: str
    byok_channels: tuple[str, ...] = ()  # channels where the key uses its own provider key


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    at: datetime
    kind: str
    amount_micros: int
    note: str | None


@dataclass(frozen=True, slots=True)
class AccountSummary:
    user: User
    balance: Balance


class Accounts:
    def __init__(self, state: State, settings: ConsoleSettings) -> None:
        self.state = state
        self.settings = settings
        self.users = UserStore(state.engine)
        self.sessions = SessionStore(state.engine)
        self.topups = TopupStore(state.engine, state.ledger, InvoiceProvider())

    # ---- signing up and in --------------------------------------------------------

    async def register(self, email: str, password: str, invite: str | None) -> User:
        mode = self.settings.registration
        if mode == "closed":
            raise Forbidden("registration is closed: ask an administrator for an account", code="registration_closed")
        if mode == "invite" and not (invite or "").strip():
            raise Forbidden("registration needs an invitation code", code="invite_required")
        return await self.users.create(
            email, password, invite=invite if mode == "invite" else None, prepaid=self.settings.prepaid
        )

    async def login(self, email: str, password: str, client_ip: str) -> User:
        """The user, or ``Unauthorized``-like errors: 429 past the limits, 403 when disabled."""
        for subject, limits in (
            (f"login:ip:{client_ip}", Limits(rpm=self.settings.login_per_ip_rpm)),
            (f"login:account:{email.strip().lower()}", Limits(rpm=self.settings.login_per_account_rpm)),
        ):
            decision = await self.state.limiter.admit(subject, limits, 0)
            if not decision.allowed:
                retry = max(int(decision.retry_after_s) + 1, 1)
                raise RateLimited(
                    f"too many sign-in attempts; retry in {retry} s",
                    code="login_rate_limited",
                    headers={"Retry-After": str(retry)},
                )
        user = await self.users.check_login(email, password)
        if user is None:
            raise Unauthorized("wrong e-mail address or password", code="invalid_credentials")
        if user.disabled:
            raise Forbidden("this account is disabled: contact an administrator", code="account_disabled")
        return user

    # ---- an account's keys ----------------------------------------------------------

    async def keys(self, user: User) -> list[AccountKey]:
        records = [k for k in await self.state.keys.list() if k.account_id == user.account_id]
        labels = await self._labels([k.id for k in records])
        ordered = sorted(records, key=lambda k: k.created_at, reverse=True)
        out = []
        for k in ordered:
            channels = tuple(e.channel for e in await self.state.byok.channels(k.id))
            out.append(AccountKey(k, labels.get(k.id, k.name), channels))
        return out

    async def create_key(self, user: User, request: KeyRequest, policy: CompiledPolicy) -> CreatedKey:
        """A key billing the user's account; with ``byok``, its own provider keys stored sealed
        (the shared BYOK checks: the group must allow it, the channel take it). All or nothing."""
        label = request.label.strip()
        if not label or len(label) > 200:
            raise InvalidInput("a key needs a name of 1 to 200 characters")
        if not user.admin and request.group not in self.settings.groups:
            raise InvalidInput(
                f"group {request.group!r} is not offered; choose one of: {', '.join(self.settings.groups)}"
            )
        spec = NewKey(
            name=f"{user.account_id}.{secrets.token_hex(4)}",
            group=request.group,
            models=request.models,
            ip_allow=request.ip_allow,
            expires_at=request.expires_at,
            quota_micros=request.quota_micros,
            account_id=user.account_id,
        )
        for _channel, _secret in request.byok:  # refuse before anything is stored
            byok.check_allowed(policy, request.group, _channel)
        created = await self.state.keys.create(spec, known_groups=policy.groups.keys())
        try:
            for channel, secret in request.byok:
                await byok.register(self.state, policy, created.key.id, channel, secret)
        except BaseException:
            await self.state.keys.delete(created.key.id)
            raise
        async with self.state.engine.begin() as conn:
            await conn.execute(sa.insert(key_labels).values(key_id=created.key.id, label=label))
        return created

    async def set_byok(self, user: User, key_id: str, channel: str, secret: str, policy: CompiledPolicy) -> None:
        await self._owned(user, key_id)
        await byok.register(self.state, policy, key_id, channel, secret)

    async def remove_byok(self, user: User, key_id: str, channel: str) -> None:
        await self._owned(user, key_id)
        await byok.remove(self.state, key_id, channel)

    async def _owned(self, user: User, key_id: str) -> AccountKey:
        owned = {k.key.id: k for k in await self.keys(user)}
        if key_id not in owned:  # another account's key is "not found", not "forbidden"
            raise NotFound(f"no API key {key_id!r} in this account")
        return owned[key_id]

    async def delete_key(self, user: User, key_id: str) -> AccountKey:
        found = await self._owned(user, key_id)
        await self.state.keys.delete(key_id)  # its label stays, naming its usage history
        return found

    async def labels(self, key_ids: Collection[str]) -> dict[str, str]:
        """The labels of keys, deleted ones included (usage names them)."""
        return await self._labels(list(key_ids))

    async def _labels(self, key_ids: list[str]) -> dict[str, str]:
        if not key_ids:
            return {}
        async with self.state.engine.connect() as conn:
            rows = await conn.execute(sa.select(key_labels).where(key_labels.c.key_id.in_(key_ids)))
            return {str(r.key_id): str(r.label) for r in rows}

    # ---- money and usage ------------------------------------------------------------

    async def balance(self, user: User) -> Balance:
        return await self.state.ledger.balance(user.account_id)

    async def ledger(self, account_id: str, limit: int = 50) -> list[LedgerEntry]:
        statement = (
            sa.select(ledger.c.at, ledger.c.kind, ledger.c.amount_micros, ledger.c.note)
            .where(ledger.c.account_id == account_id, ledger.c.kind != "charge")
            .order_by(ledger.c.id.desc())
            .limit(limit)
        )
        async with self.state.engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        return [LedgerEntry(r.at, str(r.kind), int(r.amount_micros), r.note) for r in rows]

    async def usage(self, user: User, since: date, until: date | None = None) -> list[UsageRollup]:
        return await usage_rollups(self.state.engine, UsageQuery(since=since, until=until, account_id=user.account_id))

    async def request_topup(self, user: User, amount_micros: int) -> tuple[Topup, str]:
        return await self.topups.request(user.account_id, amount_micros)

    # ---- admin --------------------------------------------------------------------

    async def all_accounts(self, admin: User) -> list[AccountSummary]:
        _require_admin(admin)
        return [AccountSummary(u, await self.state.ledger.balance(u.account_id)) for u in await self.users.list()]

    async def add_credits(self, admin: User, user_id: str, amount_micros: int, note: str | None) -> Balance:
        _require_admin(admin)
        if amount_micros <= 0:
            raise InvalidInput("the amount must be positive")
        target = await self.users.get(user_id)
        await self.state.ledger.credit(target.account_id, amount_micros, note or f"added by {admin.email}")
        return await self.state.ledger.balance(target.account_id)

    async def set_disabled(self, admin: User, user_id: str, disabled: bool) -> User:
        """Disable (or enable) a user: sign-in, sessions and tokens, and the account's API keys."""
        _require_admin(admin)
        if user_id == admin.id:
            raise InvalidInput("an administrator cannot disable their own account")
        target = await self.users.set_disabled(user_id, disabled)
        if disabled:
            await self.sessions.revoke_all(user_id)
        for key in await self.keys(target):
            if key.key.enabled == disabled:
                await self.state.keys.set_enabled(key.key.id, not disabled)
        return target

    async def confirm_topup(self, admin: User, topup_id: str) -> Topup:
        _require_admin(admin)
        return await self.topups.confirm(topup_id, admin.email)

    async def cancel_topup(self, admin: User, topup_id: str) -> Topup:
        _require_admin(admin)
        return await self.topups.cancel(topup_id, admin.email)

    async def invite(self, admin: User) -> str:
        _require_admin(admin)
        return await self.users.create_invite(admin.id)


def _require_admin(user: User) -> None:
    if not user.admin:
        raise Forbidden("this needs an administrator", code="admin_only")


def usage_window(days: int, now: datetime | None = None) -> date:
    """The first UTC day of a window of ``days`` days ending today."""
    today = (now or datetime.now(UTC)).date()
    return today - timedelta(days=max(days, 1) - 1)


def money_json(micros: int) -> dict[str, Any]:
    return {"usd": micros / 1_000_000, "micros": micros}
