"""Rendering console pages: one Jinja2 environment over the package's templates, autoescaped
(anything a user typed shows as text), the CSRF token every form needs, and the security
headers of every page (a Content-Security-Policy that allows only this server's own scripts
and styles: the console's JavaScript and CSS are vendored files under ``static/``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from engine import __version__
from engine.console.web_auth import CSRF_COOKIE, new_csrf, set_csrf
from engine.state.money import micros_to_usd

PACKAGE = Path(__file__).parent
PREFIX = "/console"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def usd(micros: int) -> str:
    value = micros_to_usd(micros)
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}${value:,.2f}" if value >= 0.01 or value == 0 else f"{sign}${value:.6f}".rstrip("0")


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(PACKAGE / "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["usd"] = usd
    env.filters["when"] = when
    env.globals["prefix"] = PREFIX
    env.globals["version"] = __version__
    return env


class Renderer:
    def __init__(self) -> None:
        self._env = _environment()

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or context.pop("fresh_csrf", None) or new_csrf()
        context.setdefault("user", None)
        context.setdefault("flash", None)
        context.setdefault("error", None)
        html = self._env.get_template(template).render(csrf=csrf, path=request.url.path, **context)
        response = HTMLResponse(html, status_code=status, headers=HEADERS)
        if request.cookies.get(CSRF_COOKIE) != csrf:
            set_csrf(response, request, csrf)
        return response


def svg(markup: str) -> Markup:
    """Chart markup from ``engine.console.charts`` (which escapes every label itself)."""
    return Markup(markup)


def redirect(location: str) -> Response:
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})
