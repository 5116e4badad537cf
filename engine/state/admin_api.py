"""The admin HTTP API (``/admin/...``): keys, credits and usage, behind ``TURNOUT_ADMIN_TOKEN``.

``admin_routes(state, admin_token=..., policy=...)`` returns Starlette routes for the lead
to mount. Every request needs ``Authorization: Bearer <admin token>``; without a
configured token the whole API answers 403. See ``ADMIN_API.md`` beside this file.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.byok import register as byok
from engine.policy.compiled import CompiledPolicy
from engine.state.http_json import (
    HttpProblem,
    json_response,
    problem_response,
    read_body,
)
from engine.state.keys import KeyPatch, NewKey
from engine.state.money import parse_usd
from engine.state.records_json import balance_json, key_json
from engine.state.state import State
from engine.state.timeparse import parse_future, parse_instant, parse_past
from engine.state.usage_report import UsageQuery, usage_rollups

PolicySource = Callable[[], CompiledPolicy | None]
Handler = Callable[[Request], Awaitable[Response]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateKeyBody(_Body):
    name: str
    group: str = "default"
    models: list[str] = ["*"]
    ip_allow: list[str] = []
    tags: list[str] = []
    expires: str | None = None  # "30d" or an ISO date/datetime
    quota_usd: Decimal | None = None
    account: str | None = None
    prepaid: bool = False


class PatchKeyBody(_Body):
    enabled: bool | None = None
    group: str | None = None
    models: list[str] | None = None
    ip_allow: list[str] | None = None
    tags: list[str] | None = None
    expires: str | None = None  # "never" clears the expiry
    quota_usd: Decimal | None = None
    clear_quota: bool = False


class CreditBody(_Body):
    amount_usd: Decimal
    note: str | None = None
    prepaid: bool | None = None  # also switch the account to prepaid (true) or postpaid (false)


class ByokBody(_Body):
    secret: str  # the caller's own provider key for the channel in the path


class PruneBody(_Body):
    before: str  # ISO date/datetime or a duration ago ("90d")


def _usd(amount: Decimal) -> int:
    return parse_usd(str(amount))


def _groups(policy: PolicySource) -> frozenset[str] | None:
    current = policy()
    return frozenset(current.groups) if current is not None else None


def admin_routes(state: State, *, admin_token: str | None, policy: PolicySource = lambda: None) -> list[Route]:
    expected = admin_token.encode() if admin_token else None

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                _authorise(request, expected)
                return await handler(request)
            except Exception as exc:
                response = problem_response(exc)
                if response is None:
                    raise
                return response

        return endpoint

    async def list_keys(request: Request) -> Response:
        return json_response({"keys": [key_json(k) for k in await state.keys.list()]})

    async def create_key(request: Request) -> Response:
        body = await read_body(request, CreateKeyBody)
        now = datetime.now(UTC)
        spec = NewKey(
            name=body.name,
            group=body.group,
            models=tuple(body.models),
            ip_allow=tuple(body.ip_allow),
            tags=tuple(body.tags),
            expires_at=parse_future(body.expires, now) if body.expires else None,
            quota_micros=_usd(body.quota_usd) if body.quota_usd is not None else None,
            account_id=body.account,
            prepaid=body.prepaid,
        )
        created = await state.keys.create(spec, known_groups=_groups(policy))
        payload = {"key": key_json(created.key), "secret": created.secret, "account_created": created.account_created}
        return json_response(payload, 201)

    async def get_key(request: Request) -> Response:
        return json_response({"key": key_json(await state.keys.get(request.path_params["ref"]))})

    async def patch_key(request: Request) -> Response:
        body = await read_body(request, PatchKeyBody)
        never = body.expires is not None and body.expires.strip().lower() == "never"
        patch = KeyPatch(
            group=body.group,
            models=tuple(body.models) if body.models is not None else None,
            ip_allow=tuple(body.ip_allow) if body.ip_allow is not None else None,
            tags=tuple(body.tags) if body.tags is not None else None,
            expires_at=parse_future(body.expires, datetime.now(UTC)) if body.expires and not never else None,
            clear_expiry=never,
            quota_micros=_usd(body.quota_usd) if body.quota_usd is not None else None,
            clear_quota=body.clear_quota,
            enabled=body.enabled,
        )
        record = await state.keys.update(request.path_params["ref"], patch, known_groups=_groups(policy))
        return json_response({"key": key_json(record)})

    async def rotate_key(request: Request) -> Response:
        rotated = await state.keys.rotate(request.path_params["ref"])
        return json_response({"key": key_json(rotated.key), "secret": rotated.secret})

    async def delete_key(request: Request) -> Response:
        return json_response({"deleted": key_json(await state.keys.delete(request.path_params["ref"]))})

    async def put_byok(request: Request) -> Response:
        body = await read_body(request, ByokBody)
        params = request.path_params
        await byok.register(state, policy(), params["ref"], params["channel"], body.secret)
        return Response(status_code=204)

    async def list_byok(request: Request) -> Response:
        entries = await byok.listing(state, request.path_params["ref"])
        return json_response(
            {"byok": [{"channel": e.channel, "created_at": e.created_at.isoformat()} for e in entries]}
        )

    async def delete_byok(request: Request) -> Response:
        await byok.remove(state, request.path_params["ref"], request.path_params["channel"])
        return Response(status_code=204)

    async def list_accounts(request: Request) -> Response:
        accounts = [await state.ledger.balance(a.id) for a in await state.accounts.list()]
        return json_response({"accounts": [balance_json(b) for b in accounts]})

    async def get_account(request: Request) -> Response:
        return json_response({"account": balance_json(await state.ledger.balance(request.path_params["account"]))})

    async def add_credits(request: Request) -> Response:
        account = request.path_params["account"]
        body = await read_body(request, CreditBody)
        amount = _usd(body.amount_usd)
        if amount <= 0:
            raise HttpProblem(400, "invalid_request", "amount_usd must be positive")
        await state.accounts.get(account)
        if body.prepaid is not None:
            await state.accounts.set_prepaid(account, body.prepaid)
        await state.ledger.credit(account, amount, body.note)
        return json_response({"account": balance_json(await state.ledger.balance(account))})

    async def usage(request: Request) -> Response:
        params, now = request.query_params, datetime.now(UTC)
        query = UsageQuery(
            since=_day(params.get("since"), now),
            until=parse_instant(params["until"]).date() if params.get("until") else None,
            account_id=params.get("account"),
            key_id=await _key_id(params.get("key")),
        )
        return json_response({"usage": [r.to_json() for r in await usage_rollups(state.engine, query)]})

    async def _key_id(ref: str | None) -> str | None:
        return None if ref is None else (await state.keys.get(ref)).id

    async def prune(request: Request) -> Response:
        body = await read_body(request, PruneBody)
        result = await state.usage.prune(parse_past(body.before, datetime.now(UTC)))
        return json_response({"deleted_rows": result.deleted_rows, "rollup_rows": result.rollup_rows})

    return [
        Route("/admin/keys", guarded(list_keys), methods=["GET"]),
        Route("/admin/keys", guarded(create_key), methods=["POST"]),
        Route("/admin/keys/{ref}", guarded(get_key), methods=["GET"]),
        Route("/admin/keys/{ref}", guarded(patch_key), methods=["PATCH"]),
        Route("/admin/keys/{ref}", guarded(delete_key), methods=["DELETE"]),
        Route("/admin/keys/{ref}/rotate", guarded(rotate_key), methods=["POST"]),
        Route("/admin/keys/{ref}/byok", guarded(list_byok), methods=["GET"]),
        Route("/admin/keys/{ref}/byok/{channel}", guarded(put_byok), methods=["PUT"]),
        Route("/admin/keys/{ref}/byok/{channel}", guarded(delete_byok), methods=["DELETE"]),
        Route("/admin/accounts", guarded(list_accounts), methods=["GET"]),
        Route("/admin/accounts/{account}", guarded(get_account), methods=["GET"]),
        Route("/admin/accounts/{account}/credits", guarded(add_credits), methods=["POST"]),
        Route("/admin/usage", guarded(usage), methods=["GET"]),
        Route("/admin/usage/prune", guarded(prune), methods=["POST"]),
    ]


def _day(text: str | None, now: datetime) -> date | None:
    return parse_past(text, now).date() if text else None


def _authorise(request: Request, expected: bytes | None) -> None:
    if expected is None:
        raise HttpProblem(403, "permission", "the admin API is disabled: set TURNOUT_ADMIN_TOKEN to enable it")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HttpProblem(
            401, "authentication", "missing admin token: send 'Authorization: Bearer <TURNOUT_ADMIN_TOKEN>'"
        )
    if not hmac.compare_digest(token.strip().encode(), expected):
        raise HttpProblem(401, "authentication", "invalid admin token")
