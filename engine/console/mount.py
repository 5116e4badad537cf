"""``console_routes``: every route of the account API and the console, for the app's lifespan
to mount once the key store and the pipeline exist (which then sends a browser's ``GET /``
to ``/console``). The console's vendored CSS and JavaScript are served from ``/console/static``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from engine.access import Principal
from engine.console.accounts_api import Handler, RenderError, account_routes
from engine.console.admin_pages import AdminPages
from engine.console.forms import is_form
from engine.console.pages import UserPages
from engine.console.public_pages import PublicPages
from engine.console.render import PACKAGE, PREFIX, Renderer
from engine.console.service import Accounts, ConsoleSettings
from engine.explain import explain_plan
from engine.pipeline import Pipeline
from engine.settings import Settings
from engine.state.state import State


def console_settings(settings: Settings) -> ConsoleSettings:
    groups = tuple(g.strip() for g in settings.console_groups.split(",") if g.strip()) or ("default",)
    return ConsoleSettings(registration=settings.registration, groups=groups, prepaid=settings.console_prepaid)


def console_routes(
    state: State,
    settings: Settings,
    pipeline: Pipeline,
    client_ip: Callable[[Request], str],
    render: RenderError,
    key_scoped: Mapping[str, Handler],
) -> list[BaseRoute]:
    accounts = Accounts(state, console_settings(settings))
    store = pipeline.store

    def explain(payload: dict[str, Any], group: str) -> dict[str, Any]:
        policy = store.current
        canonical = pipeline.registry.codec("openai").decode_request(payload)
        facts, route = pipeline.plan(canonical, Principal(None, "console-explain", None, group), policy, {})
        return explain_plan(route, facts, policy.version, policy)

    pages = UserPages(accounts, Renderer(), lambda: store.current, client_ip)
    public = PublicPages(pages, store, lambda: pipeline.health, settings.public_url, lambda: pipeline.canaries)
    admin = AdminPages(pages, store, explain)
    api = account_routes(accounts, render, lambda: store.current, client_ip, key_scoped)
    forms = {"/auth/login": pages.login, "/auth/register": pages.register, "/auth/logout": pages.logout}

    def by_body(route: Route) -> Route:
        """``/auth/login|register|logout``: an HTML form is the console's, JSON the script's."""
        form_handler, json_handler = forms.get(route.path), route.endpoint

        async def endpoint(request: Request) -> Response:
            if form_handler is not None and is_form(request):
                return await form_handler(request)
            response: Response = await json_handler(request)
            return response

        return Route(route.path, endpoint, methods=list(route.methods or ()))

    routes: list[BaseRoute] = [by_body(r) if r.path in forms else r for r in api]
    routes += pages.routes() + public.routes() + admin.routes()
    routes.append(Mount(f"{PREFIX}/static", StaticFiles(directory=PACKAGE / "static"), name="console-static"))
    return routes
