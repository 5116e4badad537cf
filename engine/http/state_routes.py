"""The HTTP routes of the key store: ``/admin/...`` (admin token), the key-scoped
self-service ``GET /v1/usage`` and ``GET /v1/credits``, and the account API and console
(``engine.console``), whose ``/v1/usage`` and ``/v1/credits`` hand requests made with an
API key to the self-service ones. Mounted by the app's lifespan once the store is open."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import BaseRoute

from engine.access import Principal, StaticKeyGate
from engine.console.mount import console_routes
from engine.errors import Forbidden, Unauthorized
from engine.http.client_ip import Network, client_ip
from engine.http.client_request import credential_for
from engine.pipeline import Pipeline
from engine.policy.compiled import CompiledPolicy
from engine.settings import Settings
from engine.state import State
from engine.state.admin_api import admin_routes
from engine.state.selfservice_api import RenderError, bearer_authenticator, selfservice_routes


def state_routes(
    state: State, settings: Settings, pipeline: Pipeline, proxies: tuple[Network, ...], openai_error: RenderError
) -> list[BaseRoute]:
    """``openai_error`` renders the self-service endpoints' errors (they are under /v1)."""
    store = pipeline.store

    def policy() -> CompiledPolicy:
        return store.current

    def caller_ip(request: Request) -> str:
        peer = request.client.host if request.client else "127.0.0.1"
        return client_ip(peer, request.headers.get("x-forwarded-for"), proxies)

    store_keys = bearer_authenticator(state, policy, caller_ip)
    static = StaticKeyGate(settings.static_keys())

    async def authenticate(request: Request) -> Principal:
        if not static.open:
            credential = credential_for("openai", request.headers, request.scope["query_string"])
            try:
                await static.authenticate(credential, "", policy())
            except Unauthorized:
                pass
            else:
                raise Forbidden(
                    "operator keys (TURNOUT_API_KEYS) belong to no account: usage and credits are "
                    "shown to keys made with `turnout keys create`",
                    code="no_account",
                )
        return await store_keys(request)

    routes: list[BaseRoute] = []
    routes += admin_routes(state, admin_token=settings.admin_token, policy=policy)
    key_scoped = {route.path: route.endpoint for route in selfservice_routes(state, authenticate, openai_error)}
    routes += console_routes(state, settings, pipeline, caller_ip, openai_error, key_scoped)
    return routes
