"""The account API (JSON): sign up and in, an account's keys, credits, top-ups and usage,
and the admin operations. See "Console and accounts" in the README.

* ``POST /auth/register``, ``POST /auth/login`` (JSON: returns a bearer account token for
  scripts; the console's form gets the session cookie instead), ``POST /auth/logout``,
  ``GET /auth/me``.
* With a session or token: ``GET|POST /v1/keys``, ``DELETE /v1/keys/{id}``,
  ``PUT|DELETE /v1/keys/{id}/byok/{channel}`` (the key's own provider key, where allowed),
  ``GET /v1/credits``, ``POST /v1/credits/topup``, ``GET /v1/usage``. ``GET /v1/credits``
  and ``GET /v1/usage`` called with an API key instead stay the key-scoped self-service
  endpoints (``engine.state.selfservice_api``), which these handlers hand over to.
* Admins: ``GET /v1/accounts``, ``POST /v1/accounts/{user}/credits``,
  ``POST /v1/accounts/{user}/disable|enable``, ``GET /v1/topups``,
  ``POST /v1/topups/{id}/confirm|cancel``, ``POST /v1/invites``.

Errors are OpenAI's error shape, like the rest of ``/v1``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.console.service import AccountKey, Accounts, KeyRequest, LedgerEntry, usage_window
from engine.console.topups import Topup
from engine.console.users import User
from engine.console.web_auth import Caller, has_account_credential, require_caller
from engine.errors import BadRequest, GatewayError, ModelNotFound
from engine.policy.compiled import CompiledPolicy
from engine.state.errors import Conflict, InvalidInput, NotFound, StateError
from engine.state.http_json import HttpProblem, json_response, read_body
from engine.state.ledger import Balance
from engine.state.money import micros_to_usd, parse_usd
from engine.state.records_json import balance_json, key_json
from engine.state.timeparse import parse_future

Handler = Callable[[Request], Awaitable[Response]]
RenderError = Callable[[GatewayError], Response]
PolicySource = Callable[[], CompiledPolicy]
ClientIp = Callable[[Request], str]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(_Body):
    email: str
    password: str


class Registration(Credentials):
    invite: str | None = None


class CreateKey(_Body):
    name: str
    group: str = "default"
    models: list[str] = ["*"]
    ip_allow: list[str] = []
    expires: str | None = None  # "30d" or an ISO date/datetime
    quota_usd: Decimal | None = None
    byok: dict[str, str] = {}  # channel -> the caller's own provider key (where the group allows BYOK)


class ByokSecret(_Body):
    secret: str


class Amount(_Body):
    amount_usd: Decimal
    note: str | None = None


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "account": user.account_id,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
    }


def account_key_json(key: AccountKey) -> dict[str, Any]:
    return {**key_json(key.key), "name": key.label, "byok_channels": list(key.byok_channels)}


def topup_json(topup: Topup) -> dict[str, Any]:
    return {
        "id": topup.id,
        "account": topup.account_id,
        "amount_usd": micros_to_usd(topup.amount_micros),
        "amount_micros": topup.amount_micros,
        "provider": topup.provider,
        "status": topup.status,
        "reference": topup.reference,
        "created_at": topup.created_at.isoformat(),
        "settled_at": topup.settled_at.isoformat() if topup.settled_at else None,
    }


def ledger_json(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "kind": entry.kind,
        "amount_usd": micros_to_usd(entry.amount_micros),
        "amount_micros": entry.amount_micros,
        "note": entry.note,
    }


def credits_json(balance: Balance, entries: list[LedgerEntry]) -> dict[str, Any]:
    return {"object": "credits", **balance_json(balance), "ledger": [ledger_json(e) for e in entries]}


def as_gateway_error(exc: Exception) -> GatewayError | None:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, HttpProblem):
        return GatewayError(exc.message, status=exc.status, kind="invalid_request", code=exc.code)
    if isinstance(exc, NotFound):
        return ModelNotFound(str(exc), code="not_found")
    if isinstance(exc, Conflict):
        return GatewayError(str(exc), status=409, kind="invalid_request", code="conflict")
    if isinstance(exc, InvalidInput | ValueError):
        return BadRequest(str(exc))
    if isinstance(exc, StateError):
        return GatewayError(str(exc))
    return None


def account_routes(
    accounts: Accounts,
    render: RenderError,
    policy: PolicySource,
    client_ip: ClientIp,
    key_scoped: Mapping[str, Handler],
) -> list[Route]:
    """``key_scoped``: the self-service handlers by path (``/v1/usage``, ``/v1/credits``) for
    requests that carry an API key rather than an account credential."""

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                error = as_gateway_error(exc)
                if error is None:
                    raise
                return render(error)

        return endpoint

    def signed_in(handler: Callable[[Request, Caller], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            return await handler(request, await require_caller(request, accounts.sessions))

        return guarded(endpoint)

    def either(path: str, handler: Callable[[Request, Caller], Awaitable[Response]]) -> Handler:
        account = signed_in(handler)

        async def endpoint(request: Request) -> Response:
            return await (account if has_account_credential(request) else key_scoped[path])(request)

        return endpoint

    async def register(request: Request) -> Response:
        body = await read_body(request, Registration)
        user = await accounts.register(body.email, body.password, body.invite)
        return json_response({"user": user_json(user)}, 201)

    async def login(request: Request) -> Response:
        body = await read_body(request, Credentials)
        user = await accounts.login(body.email, body.password, client_ip(request))
        token = await accounts.sessions.issue(user.id, "token")
        return json_response({"token": token, "token_type": "bearer", "user": user_json(user)})

    async def logout(request: Request, caller: Caller) -> Response:
        await accounts.sessions.revoke(caller.credential)
        return json_response({"signed_out": True})

    async def me(request: Request, caller: Caller) -> Response:
        return json_response({"user": user_json(caller.user)})

    async def list_keys(request: Request, caller: Caller) -> Response:
        return json_response({"keys": [account_key_json(k) for k in await accounts.keys(caller.user)]})

    async def create_key(request: Request, caller: Caller) -> Response:
        body = await read_body(request, CreateKey)
        spec = KeyRequest(
            label=body.name,
            group=body.group,
            models=tuple(body.models),
            ip_allow=tuple(body.ip_allow),
            expires_at=parse_future(body.expires, datetime.now(UTC)) if body.expires else None,
            quota_micros=parse_usd(str(body.quota_usd)) if body.quota_usd is not None else None,
            byok=tuple(body.byok.items()),
        )
        created = await accounts.create_key(caller.user, spec, policy())
        key = {**key_json(created.key), "name": spec.label.strip(), "byok_channels": sorted(body.byok)}
        return json_response({"key": key, "secret": created.secret}, 201)

    async def delete_key(request: Request, caller: Caller) -> Response:
        deleted = await accounts.delete_key(caller.user, request.path_params["key_id"])
        return json_response({"deleted": account_key_json(deleted)})

    async def put_byok(request: Request, caller: Caller) -> Response:
        body = await read_body(request, ByokSecret)
        key_id, channel = request.path_params["key_id"], request.path_params["channel"]
        await accounts.set_byok(caller.user, key_id, channel, body.secret, policy())
        return json_response({"key": key_id, "channel": channel, "stored": True})

    async def delete_byok(request: Request, caller: Caller) -> Response:
        key_id, channel = request.path_params["key_id"], request.path_params["channel"]
        await accounts.remove_byok(caller.user, key_id, channel)
        return json_response({"key": key_id, "channel": channel, "deleted": True})

    async def credits(request: Request, caller: Caller) -> Response:
        balance = await accounts.balance(caller.user)
        return json_response(credits_json(balance, await accounts.ledger(caller.user.account_id)))

    async def topup(request: Request, caller: Caller) -> Response:
        body = await read_body(request, Amount)
        created, instructions = await accounts.request_topup(caller.user, parse_usd(str(body.amount_usd)))
        return json_response({"topup": topup_json(created), "instructions": instructions}, 201)

    async def usage(request: Request, caller: Caller) -> Response:
        try:
            days = int(request.query_params.get("days", "30"))
        except ValueError:
            raise BadRequest("days must be a whole number", param="days") from None
        since = usage_window(min(max(days, 1), 366))
        rows = await accounts.usage(caller.user, since)
        return json_response(
            {
                "object": "usage",
                "account": caller.user.account_id,
                "since": since.isoformat(),
                "data": [r.to_json() for r in rows],
            }
        )

    async def all_accounts(request: Request, caller: Caller) -> Response:
        found = await accounts.all_accounts(caller.user)
        return json_response({"accounts": [{"user": user_json(a.user), **balance_json(a.balance)} for a in found]})

    async def add_credits(request: Request, caller: Caller) -> Response:
        body = await read_body(request, Amount)
        amount = parse_usd(str(body.amount_usd))
        balance = await accounts.add_credits(caller.user, request.path_params["user_id"], amount, body.note)
        return json_response(balance_json(balance))

    async def disable(request: Request, caller: Caller) -> Response:
        return json_response(
            {"user": user_json(await accounts.set_disabled(caller.user, request.path_params["user_id"], True))}
        )

    async def enable(request: Request, caller: Caller) -> Response:
        return json_response(
            {"user": user_json(await accounts.set_disabled(caller.user, request.path_params["user_id"], False))}
        )

    async def list_topups(request: Request, caller: Caller) -> Response:
        await accounts.all_accounts(caller.user)  # admins only
        status = request.query_params.get("status")
        return json_response({"topups": [topup_json(t) for t in await accounts.topups.list(status=status)]})

    async def confirm(request: Request, caller: Caller) -> Response:
        return json_response(
            {"topup": topup_json(await accounts.confirm_topup(caller.user, request.path_params["topup_id"]))}
        )

    async def cancel(request: Request, caller: Caller) -> Response:
        return json_response(
            {"topup": topup_json(await accounts.cancel_topup(caller.user, request.path_params["topup_id"]))}
        )

    async def invite(request: Request, caller: Caller) -> Response:
        return json_response({"invite": await accounts.invite(caller.user)}, 201)

    post, get = ["POST"], ["GET"]
    return [
        Route("/auth/register", guarded(register), methods=post),
        Route("/auth/login", guarded(login), methods=post),
        Route("/auth/logout", signed_in(logout), methods=post),
        Route("/auth/me", signed_in(me), methods=get),
        Route("/v1/keys", signed_in(list_keys), methods=get),
        Route("/v1/keys", signed_in(create_key), methods=post),
        Route("/v1/keys/{key_id}", signed_in(delete_key), methods=["DELETE"]),
        Route("/v1/keys/{key_id}/byok/{channel}", signed_in(put_byok), methods=["PUT"]),
        Route("/v1/keys/{key_id}/byok/{channel}", signed_in(delete_byok), methods=["DELETE"]),
        Route("/v1/credits", either("/v1/credits", credits), methods=get),
        Route("/v1/credits/topup", signed_in(topup), methods=post),
        Route("/v1/usage", either("/v1/usage", usage), methods=get),
        Route("/v1/accounts", signed_in(all_accounts), methods=get),
        Route("/v1/accounts/{user_id}/credits", signed_in(add_credits), methods=post),
        Route("/v1/accounts/{user_id}/disable", signed_in(disable), methods=post),
        Route("/v1/accounts/{user_id}/enable", signed_in(enable), methods=post),
        Route("/v1/topups", signed_in(list_topups), methods=get),
        Route("/v1/topups/{topup_id}/confirm", signed_in(confirm), methods=post),
        Route("/v1/topups/{topup_id}/cancel", signed_in(cancel), methods=post),
        Route("/v1/invites", signed_in(invite), methods=post),
    ]
