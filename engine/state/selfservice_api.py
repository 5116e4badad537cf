"""Self-service endpoints for API key holders: ``GET /v1/usage`` and ``GET /v1/credits``.

They authenticate with the key itself. ``selfservice_routes(state, authenticate, render)``
takes the pipeline's own ``Request -> Principal`` function (header parsing, trusted
proxies, current policy); ``bearer_authenticator`` builds a plain one from the gate.
They live under ``/v1`` beside the OpenAI endpoints, so their errors are OpenAI's error
shape like the rest of ``/v1``: every failure becomes a ``GatewayError`` and ``render``
(the caller's OpenAI error encoder; this package imports no vendor shapes) writes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.access import Principal
from engine.errors import BadRequest, GatewayError, Unauthorized
from engine.policy.compiled import CompiledPolicy
from engine.state.errors import NotFound
from engine.state.http_json import json_response
from engine.state.money import micros_to_usd
from engine.state.records_json import balance_json
from engine.state.state import State
from engine.state.timeparse import parse_past
from engine.state.usage_report import UsageQuery, usage_rollups

Authenticate = Callable[[Request], Awaitable[Principal]]
RenderError = Callable[[GatewayError], Response]


def bearer_authenticator(
    state: State, policy: Callable[[], CompiledPolicy], client_ip: Callable[[Request], str]
) -> Authenticate:
    """``Authorization: Bearer`` or ``x-api-key``, checked by ``state.gate`` against ``policy()``."""

    async def authenticate(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        credential = token.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key")
        return await state.gate.authenticate(credential or None, client_ip(request), policy())

    return authenticate


def selfservice_routes(state: State, authenticate: Authenticate, render: RenderError) -> list[Route]:
    async def usage(request: Request) -> Response:
        try:
            principal = await authenticate(request)
            since_text = request.query_params.get("since")
            now = datetime.now(UTC)
            since = parse_past(since_text, now) if since_text else now - timedelta(days=30)
            rows = await usage_rollups(state.engine, UsageQuery(since=since.date(), key_id=principal.key_id))
        except (GatewayError, NotFound, ValueError) as exc:
            return render(_as_gateway_error(exc))
        return json_response(
            {
                "object": "usage",
                "key": principal.key_name,
                "account": principal.account_id,
                "since": since.date().isoformat(),
                "data": [row.to_json() for row in rows],
            }
        )

    async def credits(request: Request) -> Response:
        try:
            principal = await authenticate(request)
            payload: dict[str, object] = {"object": "credits", "key": principal.key_name}
            if principal.account_id is not None:
                payload.update(balance_json(await state.ledger.balance(principal.account_id)))
            if principal.key_id is not None:
                key = await state.keys.get(principal.key_id)
                payload["key_spend_usd"] = micros_to_usd(key.spend_micros)
                payload["key_quota_usd"] = None if key.quota_micros is None else micros_to_usd(key.quota_micros)
        except (GatewayError, NotFound, ValueError) as exc:
            return render(_as_gateway_error(exc))
        return json_response(payload)

    return [Route("/v1/usage", usage, methods=["GET"]), Route("/v1/credits", credits, methods=["GET"])]


def _as_gateway_error(exc: Exception) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, NotFound):  # the key was deleted between authentication and the lookup
        return Unauthorized("invalid API key", code="invalid_api_key")
    return BadRequest(str(exc), param="since")
