"""The signed-in console pages: overview, API keys, usage (chart, table, CSV), credits and
top-ups; and the form side of ``/auth/login``, ``/auth/register`` and ``/auth/logout``.

Every POST is a form carrying the CSRF token; a successful change answers with a redirect
(303), except key creation, whose page shows the new secret once.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.console.charts import responsive_bar_chart, usd
from engine.console.forms import Form, read_form
from engine.console.render import PREFIX, Renderer, redirect, svg
from engine.console.service import Accounts, KeyRequest, usage_window
from engine.console.users import User
from engine.console.web_auth import (
    SESSION_COOKIE,
    check_csrf,
    clear_session,
    new_csrf,
    set_session,
)
from engine.errors import GatewayError
from engine.policy.compiled import CompiledPolicy
from engine.state.errors import NotFound, StateError
from engine.state.money import parse_usd
from engine.state.timeparse import parse_future
from engine.state.usage_report import UsageRollup

Handler = Callable[[Request], Awaitable[Response]]
UserHandler = Callable[[Request, User], Awaitable[Response]]
PolicySource = Callable[[], CompiledPolicy]
ClientIp = Callable[[Request], str]


def problem_text(exc: Exception) -> str | None:
    if isinstance(exc, GatewayError):
        return exc.message
    if isinstance(exc, StateError | ValueError):
        return str(exc)
    return None


def daily(rows: list[UsageRollup], days: int) -> list[tuple[str, int, int]]:
    """(day, requests, cost micros) for every day of the window, oldest first, zeros included."""
    first = usage_window(days)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        totals[row.day.isoformat()][0] += row.requests
        totals[row.day.isoformat()][1] += row.cost_micros
    out = []
    for offset in range(days):
        day = first.fromordinal(first.toordinal() + offset).isoformat()
        out.append((day, totals[day][0], totals[day][1]))
    return out


def usage_csv(rows: list[UsageRollup]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["day", "model", "key_id", "requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd"])
    for r in rows:
        cost = f"{r.cost_micros / 1_000_000:.6f}"
        writer.writerow(
            [r.day.isoformat(), r.model, r.key_id, r.requests, r.errors, r.prompt_tokens, r.completion_tokens, cost]
        )
    return buffer.getvalue()


class UserPages:
    def __init__(self, accounts: Accounts, renderer: Renderer, policy: PolicySource, client_ip: ClientIp) -> None:
        self.accounts = accounts
        self.renderer = renderer
        self.policy = policy
        self.client_ip = client_ip

    async def user_of(self, request: Request) -> User | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        return await self.accounts.sessions.resolve(cookie, "session") if cookie else None

    def signed_in(self, handler: UserHandler) -> Handler:
        async def endpoint(request: Request) -> Response:
            user = await self.user_of(request)
            if user is None:
                return redirect(f"{PREFIX}/login")
            try:
                if request.method == "POST":
                    form = await read_form(request)
                    check_csrf(request, form.get("csrf", ""))
                    request.state.form = form
                return await handler(request, user)
            except Exception as exc:
                message = problem_text(exc)
                if message is None:
                    raise
                status = exc.status if isinstance(exc, GatewayError) else 404 if isinstance(exc, NotFound) else 400
                return self.renderer.page(request, "error.html", status=status, user=user, error=message)

        return endpoint

    # ---- signing in and out (the form side of /auth/...) ---------------------------

    async def login_page(self, request: Request) -> Response:
        if await self.user_of(request) is not None:
            return redirect(PREFIX)
        flash = "Account created: sign in." if request.query_params.get("registered") else None
        return self.renderer.page(request, "login.html", flash=flash, email="")

    async def register_page(self, request: Request) -> Response:
        mode = self.accounts.settings.registration
        return self.renderer.page(request, "register.html", mode=mode, email="", invite="")

    async def login(self, request: Request) -> Response:
        form = await read_form(request)
        email = form.text("email")
        try:
            check_csrf(request, form.get("csrf", ""))
            user = await self.accounts.login(email, form.get("password", ""), self.client_ip(request))
        except Exception as exc:
            message = problem_text(exc)
            if message is None:
                raise
            status = exc.status if isinstance(exc, GatewayError) else 400
            return self.renderer.page(request, "login.html", status=status, error=message, email=email)
        old = request.cookies.get(SESSION_COOKIE)
        if old:  # session rotation: whatever session this browser had ends here
            await self.accounts.sessions.revoke(old)
        session = await self.accounts.sessions.issue(user.id, "session")
        response = redirect(PREFIX)
        set_session(response, request, session, new_csrf())
        return response

    async def register(self, request: Request) -> Response:
        form = await read_form(request)
        email, invite = form.text("email"), form.text("invite")
        try:
            check_csrf(request, form.get("csrf", ""))
            if form.get("password", "") != form.get("password2", ""):
                raise ValueError("the two passwords differ")
            await self.accounts.register(email, form.get("password", ""), invite or None)
        except Exception as exc:
            message = problem_text(exc)
            if message is None:
                raise
            status = exc.status if isinstance(exc, GatewayError) else 400
            mode = self.accounts.settings.registration
            context: dict[str, Any] = {"error": message, "mode": mode, "email": email, "invite": invite}
            return self.renderer.page(request, "register.html", status=status, **context)
        return redirect(f"{PREFIX}/login?registered=1")

    async def logout(self, request: Request) -> Response:
        form = await read_form(request)
        check_csrf(request, form.get("csrf", ""))
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            await self.accounts.sessions.revoke(session)
        response = redirect(f"{PREFIX}/login")
        clear_session(response, request)
        return response

    # ---- pages --------------------------------------------------------------------

    async def overview(self, request: Request, user: User) -> Response:
        balance = await self.accounts.balance(user)
        rows = await self.accounts.usage(user, usage_window(31))
        now = datetime.now(UTC).date()
        today = sum(r.cost_micros for r in rows if r.day == now)
        month = sum(r.cost_micros for r in rows if (r.day.year, r.day.month) == (now.year, now.month))
        per_day = daily(rows, 14)
        chart = responsive_bar_chart(
            [(d[5:], float(n)) for d, n, _ in per_day], title="Requests per day, last 14 days", unit="requests"
        )
        keys = await self.accounts.keys(user)
        context: dict[str, Any] = {
            "balance": balance,
            "today": today,
            "month": month,
            "chart": svg(chart),
            "key_count": len(keys),
        }
        return self.renderer.page(request, "overview.html", user=user, **context)

    async def keys_page(
        self, request: Request, user: User, created: object = None, error: str | None = None
    ) -> Response:
        keys = await self.accounts.keys(user)
        policy = self.policy()
        offered = sorted(policy.groups) if user.admin else list(self.accounts.settings.groups)
        byok_groups = [g for g in offered if g in policy.groups and policy.groups[g].byok]
        byok_channels = sorted(name for name, c in policy.channels.items() if c.byok) if byok_groups else []
        context: dict[str, Any] = {"keys": keys, "groups": offered, "created": created, "error": error}
        context.update(byok_groups=byok_groups, byok_channels=byok_channels)
        return self.renderer.page(request, "keys.html", status=400 if error else 200, user=user, **context)

    async def keys(self, request: Request, user: User) -> Response:
        return await self.keys_page(request, user)

    async def create_key(self, request: Request, user: User) -> Response:
        form: Form = request.state.form
        try:
            spec = KeyRequest(
                label=form.get("name", ""),
                group=form.text("group", "default") or "default",
                models=form.items_of("models") or ("*",),
                ip_allow=form.items_of("ip_allow"),
                expires_at=parse_future(form.text("expires"), datetime.now(UTC)) if form.text("expires") else None,
                quota_micros=parse_usd(form.text("quota")) if form.text("quota") else None,
                byok=((form.text("byok_channel"), form.text("byok_secret")),) if form.text("byok_secret") else (),
            )
            created = await self.accounts.create_key(user, spec, self.policy())
        except Exception as exc:
            message = problem_text(exc)
            if message is None:
                raise
            return await self.keys_page(request, user, error=message)
        return await self.keys_page(request, user, created={"label": spec.label.strip(), "secret": created.secret})

    async def revoke_key(self, request: Request, user: User) -> Response:
        await self.accounts.delete_key(user, request.path_params["key_id"])
        return redirect(f"{PREFIX}/keys")

    def _days(self, request: Request) -> int:
        try:
            return min(max(int(request.query_params.get("days", "30")), 1), 366)
        except ValueError:
            return 30

    async def usage(self, request: Request, user: User) -> Response:
        days = self._days(request)
        rows = await self.accounts.usage(user, usage_window(days))
        per_day = daily(rows, days)
        requests_chart = responsive_bar_chart(
            [(d[5:], float(n)) for d, n, _ in per_day], title=f"Requests per day, last {days} days", unit="requests"
        )
        cost_chart = responsive_bar_chart(
            [(d[5:], c / 1_000_000) for d, _, c in per_day],
            title=f"Spend per day, last {days} days",
            unit="USD",
            fmt=usd,
        )
        live = {k.key.id for k in await self.accounts.keys(user)}
        labels = {
            key_id: label if key_id in live else f"{label} (revoked)"
            for key_id, label in (await self.accounts.labels({r.key_id for r in rows if r.key_id})).items()
        }
        context: dict[str, Any] = {"rows": list(reversed(rows)), "days": days, "labels": labels}
        charts: dict[str, Any] = {"requests_chart": svg(requests_chart), "cost_chart": svg(cost_chart)}
        return self.renderer.page(request, "usage.html", user=user, **context, **charts)

    async def usage_download(self, request: Request, user: User) -> Response:
        rows = await self.accounts.usage(user, usage_window(self._days(request)))
        name = f"turnout-usage-{datetime.now(UTC).date().isoformat()}.csv"
        return Response(
            usage_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    async def credits(self, request: Request, user: User, instructions: str | None = None) -> Response:
        balance = await self.accounts.balance(user)
        entries = await self.accounts.ledger(user.account_id)
        topups = await self.accounts.topups.list(account_id=user.account_id)
        context: dict[str, Any] = {
            "balance": balance,
            "entries": entries,
            "topups": topups,
            "instructions": instructions,
        }
        return self.renderer.page(request, "credits.html", user=user, **context)

    async def topup(self, request: Request, user: User) -> Response:
        form: Form = request.state.form
        try:
            _, instructions = await self.accounts.request_topup(user, parse_usd(form.text("amount")))
        except Exception as exc:
            message = problem_text(exc)
            if message is None:
                raise
            return await self.credits(request, user, instructions=f"Not requested: {message}")
        return await self.credits(request, user, instructions=instructions)

    def routes(self) -> list[Route]:
        get, post = ["GET"], ["POST"]
        return [
            Route(f"{PREFIX}/login", self.login_page, methods=get),
            Route(f"{PREFIX}/register", self.register_page, methods=get),
            Route(PREFIX, self.signed_in(self.overview), methods=get),
            Route(f"{PREFIX}/keys", self.signed_in(self.keys), methods=get),
            Route(f"{PREFIX}/keys", self.signed_in(self.create_key), methods=post),
            Route(f"{PREFIX}/keys/{{key_id}}/revoke", self.signed_in(self.revoke_key), methods=post),
            Route(f"{PREFIX}/usage", self.signed_in(self.usage), methods=get),
            Route(f"{PREFIX}/usage.csv", self.signed_in(self.usage_download), methods=get),
            Route(f"{PREFIX}/credits", self.signed_in(self.credits), methods=get),
            Route(f"{PREFIX}/credits/topup", self.signed_in(self.topup), methods=post),
        ]
