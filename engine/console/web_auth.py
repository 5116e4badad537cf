"""Who is calling the account API or the console: a session cookie or an account token, and
the CSRF check every state-changing request made with the cookie must pass.

* The session cookie (``turnout_session``) is HttpOnly, SameSite=Lax, Secure behind HTTPS,
  and replaced at every sign-in (session rotation). Only the account API and the console
  read it; the data plane reads credentials from headers only, so it is never an API key.
* CSRF: a random ``turnout_csrf`` cookie (double submit). A form carries it in a hidden
  ``csrf`` field, a script in the ``x-csrf-token`` header; a cookie-authenticated POST or
  DELETE whose value does not match is refused. It is rotated with the session.
* ``Authorization: Bearer tat-...`` (an account token) needs no CSRF token: a browser never
  attaches it by itself.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from engine.console.sessions import SESSION_TTL, SessionStore, looks_like_account_token
from engine.console.users import User
from engine.errors import Forbidden, Unauthorized

SESSION_COOKIE = "turnout_session"
CSRF_COOKIE = "turnout_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    via: Literal["session", "token"]
    credential: str


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def has_account_credential(request: Request) -> bool:
    """Whether the request carries an account token, or a session cookie and no other credential
    (a request with an API key goes to the key-scoped self-service endpoints)."""
    token = bearer(request)
    if token is not None:
        return looks_like_account_token(token)
    return SESSION_COOKIE in request.cookies and "x-api-key" not in request.headers


async def caller(request: Request, sessions: SessionStore) -> Caller | None:
    token = bearer(request)
    if token is not None:
        if not looks_like_account_token(token):
            return None
        user = await sessions.resolve(token, "token")
        return Caller(user, "token", token) if user is not None else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user = await sessions.resolve(cookie, "session")
        return Caller(user, "session", cookie) if user is not None else None
    return None


async def require_caller(request: Request, sessions: SessionStore, form_csrf: str | None = None) -> Caller:
    """The signed-in caller, with the CSRF check for a cookie on an unsafe method."""
    found = await caller(request, sessions)
    if found is None:
        raise Unauthorized("sign in first: a console session or 'Authorization: Bearer tat-...'", code="not_signed_in")
    if found.via == "session" and request.method not in SAFE_METHODS:
        check_csrf(request, form_csrf)
    return found


def check_csrf(request: Request, form_csrf: str | None = None) -> None:
    expected = request.cookies.get(CSRF_COOKIE, "")
    sent = form_csrf if form_csrf is not None else request.headers.get(CSRF_HEADER, "")
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again", code="csrf_failed")


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, session: str, csrf: str) -> None:
    """Set a fresh session and CSRF cookie (both rotated at sign-in)."""
    max_age = int(SESSION_TTL.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, session, max_age=max_age, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )
    set_csrf(response, request, csrf)


def set_csrf(response: Response, request: Request, csrf: str) -> None:
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=_secure(request), path="/")


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))
