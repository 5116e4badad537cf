"""The admin console pages: accounts (balances, add credits, disable or enable, top-ups to
confirm, invitations) and the policy (version, files, the last reload error, and an explain
form that shows the plan for a pasted request with every candidate kept or dropped)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.console.forms import Form
from engine.console.pages import UserPages, problem_text
from engine.console.render import PREFIX, redirect
from engine.console.users import User
from engine.errors import BadRequest, Forbidden
from engine.policy.store import PolicyStore
from engine.state.money import parse_usd

Explain = Callable[[dict[str, Any], str], dict[str, Any]]
EXAMPLE_REQUEST = '{\n  "model": "auto",\n  "messages": [{"role": "user", "content": "Hello"}]\n}'


def policy_files(directory: str) -> list[str]:
    root = Path(directory)
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.toml") if p.is_file())


class AdminPages:
    def __init__(self, pages: UserPages, store: PolicyStore, explain: Explain) -> None:
        self.pages = pages
        self.store = store
        self.explain = explain

    def admin(self, handler: Callable[[Request, User], Any]) -> Callable[[Request], Any]:
        async def only_admins(request: Request, user: User) -> Response:
            if not user.admin:
                raise Forbidden("this page is for administrators", code="admin_only")
            response: Response = await handler(request, user)
            return response

        return self.pages.signed_in(only_admins)

    async def accounts(self, request: Request, user: User, invite: str | None = None) -> Response:
        summaries = await self.pages.accounts.all_accounts(user)
        pending = await self.pages.accounts.topups.list(status="pending")
        emails = {s.user.account_id: s.user.email for s in summaries}
        context: dict[str, Any] = {"summaries": summaries, "pending": pending, "emails": emails, "invite": invite}
        context["registration"] = self.pages.accounts.settings.registration
        return self.pages.renderer.page(request, "admin_accounts.html", user=user, **context)

    async def add_credits(self, request: Request, user: User) -> Response:
        form: Form = request.state.form
        amount = parse_usd(form.text("amount"))
        await self.pages.accounts.add_credits(user, request.path_params["user_id"], amount, form.text("note") or None)
        return redirect(f"{PREFIX}/admin/accounts")

    async def disable(self, request: Request, user: User) -> Response:
        await self.pages.accounts.set_disabled(user, request.path_params["user_id"], True)
        return redirect(f"{PREFIX}/admin/accounts")

    async def enable(self, request: Request, user: User) -> Response:
        await self.pages.accounts.set_disabled(user, request.path_params["user_id"], False)
        return redirect(f"{PREFIX}/admin/accounts")

    async def confirm(self, request: Request, user: User) -> Response:
        await self.pages.accounts.confirm_topup(user, request.path_params["topup_id"])
        return redirect(f"{PREFIX}/admin/accounts")

    async def cancel(self, request: Request, user: User) -> Response:
        await self.pages.accounts.cancel_topup(user, request.path_params["topup_id"])
        return redirect(f"{PREFIX}/admin/accounts")

    async def invite(self, request: Request, user: User) -> Response:
        return await self.accounts(request, user, invite=await self.pages.accounts.invite(user))

    async def policy(self, request: Request, user: User) -> Response:
        return self._policy_page(request, user, EXAMPLE_REQUEST, "default", None, None)

    async def explain_form(self, request: Request, user: User) -> Response:
        form: Form = request.state.form
        text, group = form.get("request", ""), form.text("group", "default") or "default"
        try:
            payload = orjson.loads(text)
            if not isinstance(payload, dict):
                raise BadRequest("paste one JSON object: an OpenAI chat completion request")
            result = self.explain(payload, group)
        except orjson.JSONDecodeError as exc:
            return self._policy_page(request, user, text, group, None, f"not JSON: {exc}")
        except Exception as exc:
            message = problem_text(exc)
            if message is None:
                raise
            return self._policy_page(request, user, text, group, None, message)
        return self._policy_page(request, user, text, group, result, None)

    def _policy_page(
        self, request: Request, user: User, text: str, group: str, plan: dict[str, Any] | None, problem: str | None
    ) -> Response:
        policy = self.store.current
        context: dict[str, Any] = {
            "policy": policy,
            "files": policy_files(policy.source_dir),
            "loaded_at": self.store.loaded_at,
            "last_error": self.store.last_error,
            "last_error_at": self.store.last_error_at,
            "groups": sorted(policy.groups) or ["default"],
            "request_text": text,
            "group": group,
            "plan": plan,
            "problem": problem,
        }
        return self.pages.renderer.page(
            request, "admin_policy.html", status=400 if problem else 200, user=user, **context
        )

    def routes(self) -> list[Route]:
        get, post = ["GET"], ["POST"]
        admin = f"{PREFIX}/admin"
        return [
            Route(f"{admin}/accounts", self.admin(self.accounts), methods=get),
            Route(f"{admin}/accounts/{{user_id}}/credits", self.admin(self.add_credits), methods=post),
            Route(f"{admin}/accounts/{{user_id}}/disable", self.admin(self.disable), methods=post),
            Route(f"{admin}/accounts/{{user_id}}/enable", self.admin(self.enable), methods=post),
            Route(f"{admin}/topups/{{topup_id}}/confirm", self.admin(self.confirm), methods=post),
            Route(f"{admin}/topups/{{topup_id}}/cancel", self.admin(self.cancel), methods=post),
            Route(f"{admin}/invites", self.admin(self.invite), methods=post),
            Route(f"{admin}/policy", self.admin(self.policy), methods=get),
            Route(f"{admin}/policy/explain", self.admin(self.explain_form), methods=post),
        ]
