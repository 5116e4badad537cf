"""The account API over ASGI, on the embedded store and on PostgreSQL + Redis: registration
modes, sign-in and its limits, an account's keys (and only its own), credits, top-ups and
the admin operations; the session cookie's CSRF rule."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from engine.byok.vault import Vault
from engine.console.accounts_api import account_routes
from engine.console.service import Accounts, ConsoleSettings
from engine.console.web_auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from engine.errors import GatewayError, Unauthorized
from engine.policy.compiled import ChannelSpec, CompiledPolicy, GroupSpec
from engine.state.schema import users
from engine.state.selfservice_api import bearer_authenticator, selfservice_routes
from engine.state.state import State
from providers.registry import build_registry
from tests.state.conftest import Backend, make_policy

POLICY = make_policy(default=GroupSpec("default"), gold=GroupSpec("gold"))
PASSWORD = "correct horse battery"


def _openai_error(err: GatewayError) -> Response:
    body = build_registry().codec("openai").encode_error(err)
    return Response(body, status_code=err.status, headers=err.headers, media_type="application/json")


def _ip(request: Request) -> str:
    return request.headers.get("x-test-ip", "127.0.0.1")


def _app(state: State, settings: ConsoleSettings, policy: CompiledPolicy = POLICY) -> tuple[Starlette, Accounts]:
    accounts = Accounts(state, settings)
    scoped = selfservice_routes(state, bearer_authenticator(state, lambda: POLICY, _ip), _openai_error)
    handlers = {r.path: r.endpoint for r in scoped}
    routes = account_routes(accounts, _openai_error, lambda: policy, _ip, handlers)
    return Starlette(routes=routes), accounts


@pytest.fixture
async def open_api(state: State) -> AsyncIterator[tuple[httpx.AsyncClient, Accounts]]:
    app, accounts = _app(state, ConsoleSettings(registration="open", prepaid=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        yield http, accounts


async def _signup(http: httpx.AsyncClient, email: str) -> str:
    made = await http.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert made.status_code == 201, made.text
    login = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token: str = login.json()["token"]
    assert token.startswith("tat-")
    return token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_register_stores_an_argon2_hash_and_login_gives_a_token(
    open_api: tuple[httpx.AsyncClient, Accounts], state: State
) -> None:
    http, _ = open_api
    token = await _signup(http, "Ada@Example.com")
    me = (await http.get("/auth/me", headers=_auth(token))).json()["user"]
    assert me["email"] == "ada@example.com" and me["role"] == "user"
    async with state.engine.connect() as conn:
        stored = (await conn.execute(sa.select(users.c.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    wrong = await http.post("/auth/login", json={"email": "ada@example.com", "password": "not the password"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
    again = await http.post("/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    assert again.status_code == 409
    short = await http.post("/auth/register", json={"email": "bob@example.com", "password": "short"})
    assert short.status_code == 400 and "at least 10" in short.json()["error"]["message"]
    out = await http.post("/auth/logout", headers=_auth(token))
    assert out.status_code == 200
    assert (await http.get("/auth/me", headers=_auth(token))).status_code == 401


async def test_registration_modes(state: State) -> None:
    app, accounts = _app(state, ConsoleSettings(registration="closed"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as http:
        closed = await http.post("/auth/register", json={"email": "a@example.com", "password": PASSWORD})
    assert closed.status_code == 403 and closed.json()["error"]["code"] == "registration_closed"

    app, accounts = _app(state, ConsoleSettings(registration="invite"))
    admin = await accounts.users.create("root@example.com", PASSWORD, role="admin")
    code = await accounts.invite(admin)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as http:
        body = {"email": "b@example.com", "password": PASSWORD}
        missing = await http.post("/auth/register", json=body)
        assert missing.status_code == 403 and missing.json()["error"]["code"] == "invite_required"
        bogus = await http.post("/auth/register", json={**body, "invite": "inv-nope"})
        assert bogus.status_code == 400
        good = await http.post("/auth/register", json={**body, "invite": code})
        assert good.status_code == 201
        reused = await http.post("/auth/register", json={**body, "email": "c@example.com", "invite": code})
        assert reused.status_code == 400 and "used already" in reused.json()["error"]["message"]


async def test_login_is_rate_limited_per_account_and_per_ip(state: State) -> None:
    # three a minute per account, five per address: a bucket refills one attempt in 12 s or more
    app, _ = _app(state, ConsoleSettings(registration="open", login_per_account_rpm=3, login_per_ip_rpm=5))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        await _login_limits(http)


async def _login_limits(http: httpx.AsyncClient) -> None:
    await _signup(http, "eve@example.com")
    statuses = []
    for attempt in range(3):  # the signup's login was the first of three a minute for this account
        wrong = await http.post(
            "/auth/login",
            json={"email": "eve@example.com", "password": "guess-number-x"},
            headers={"x-test-ip": f"10.9.0.{attempt}"},
        )
        statuses.append(wrong.status_code)
    assert statuses == [401] * 2 + [429]
    assert wrong.json()["error"]["code"] == "login_rate_limited" and int(wrong.headers["retry-after"]) >= 1
    # per IP: five a minute from one address, whichever accounts they name
    ip_statuses = [
        (
            await http.post(
                "/auth/login",
                json={"email": f"x{n}@example.com", "password": "guess-number-x"},
                headers={"x-test-ip": "10.8.0.1"},
            )
        ).status_code
        for n in range(6)
    ]
    assert ip_statuses == [401] * 5 + [429]


async def test_keys_belong_to_their_account_and_revocation_reaches_the_gate(
    open_api: tuple[httpx.AsyncClient, Accounts], state: State
) -> None:
    http, _ = open_api
    alice, bob = await _signup(http, "alice@example.com"), await _signup(http, "bob@example.com")
    created = await http.post(
        "/v1/keys",
        headers=_auth(alice),
        json={"name": "<script>alert(1)</script>", "models": ["gpt-*"], "expires": "30d", "quota_usd": "5"},
    )
    assert created.status_code == 201, created.text
    key, secret = created.json()["key"], created.json()["secret"]
    assert key["name"] == "<script>alert(1)</script>" and key["quota_usd"] == 5.0 and secret.startswith("sk-trn-")
    listed = (await http.get("/v1/keys", headers=_auth(alice))).json()["keys"]
    assert [k["id"] for k in listed] == [key["id"]] and secret not in str(listed)
    assert (await http.get("/v1/keys", headers=_auth(bob))).json()["keys"] == []
    assert (await http.delete(f"/v1/keys/{key['id']}", headers=_auth(bob))).status_code == 404
    gold = await http.post("/v1/keys", headers=_auth(alice), json={"name": "x", "group": "gold"})
    assert gold.status_code == 400 and "not offered" in gold.json()["error"]["message"]

    principal = await state.gate.authenticate(secret, "127.0.0.1", POLICY)
    assert principal.account_id == key["account"]
    assert (await http.delete(f"/v1/keys/{key['id']}", headers=_auth(alice))).status_code == 200
    with pytest.raises(Unauthorized):
        await state.gate.authenticate(secret, "127.0.0.1", POLICY)
    # the account token is no API key
    with pytest.raises(Unauthorized):
        await state.gate.authenticate(alice, "127.0.0.1", POLICY)


async def test_key_scoped_self_service_still_answers_api_keys(open_api: tuple[httpx.AsyncClient, Accounts]) -> None:
    http, _ = open_api
    token = await _signup(http, "kim@example.com")
    secret = (await http.post("/v1/keys", headers=_auth(token), json={"name": "k"})).json()["secret"]
    by_key = (await http.get("/v1/credits", headers=_auth(secret))).json()
    assert by_key["key_spend_usd"] == 0.0 and "ledger" not in by_key
    by_account = (await http.get("/v1/credits", headers=_auth(token))).json()
    assert by_account["ledger"] == [] and by_account["prepaid"] is True


async def test_topup_by_invoice_is_credited_once_an_admin_confirms(
    open_api: tuple[httpx.AsyncClient, Accounts],
) -> None:
    http, accounts = open_api
    user = await _signup(http, "pay@example.com")
    await accounts.users.create("boss@example.com", PASSWORD, role="admin")
    admin = (await http.post("/auth/login", json={"email": "boss@example.com", "password": PASSWORD})).json()["token"]
    asked = await http.post("/v1/credits/topup", headers=_auth(user), json={"amount_usd": "20"})
    assert asked.status_code == 201
    topup = asked.json()["topup"]
    assert topup["status"] == "pending" and topup["reference"] in asked.json()["instructions"]
    assert (await http.get("/v1/credits", headers=_auth(user))).json()["balance_usd"] == 0.0
    assert (await http.post(f"/v1/topups/{topup['id']}/confirm", headers=_auth(user))).status_code == 403
    pending = (await http.get("/v1/topups?status=pending", headers=_auth(admin))).json()["topups"]
    assert [t["id"] for t in pending] == [topup["id"]]
    done = await http.post(f"/v1/topups/{topup['id']}/confirm", headers=_auth(admin))
    assert done.json()["topup"]["status"] == "confirmed"
    twice = await http.post(f"/v1/topups/{topup['id']}/confirm", headers=_auth(admin))
    assert twice.status_code == 409
    credits = (await http.get("/v1/credits", headers=_auth(user))).json()
    assert credits["balance_usd"] == 20.0 and credits["ledger"][0]["note"].startswith(f"top-up {topup['reference']}")


async def test_admin_sees_accounts_adds_credits_and_disables(
    open_api: tuple[httpx.AsyncClient, Accounts], state: State
) -> None:
    http, accounts = open_api
    user = await _signup(http, "u@example.com")
    secret = (await http.post("/v1/keys", headers=_auth(user), json={"name": "k"})).json()["secret"]
    assert (await http.get("/v1/accounts", headers=_auth(user))).status_code == 403
    await accounts.users.create("root@example.com", PASSWORD, role="admin")
    admin = (await http.post("/auth/login", json={"email": "root@example.com", "password": PASSWORD})).json()["token"]
    listed = (await http.get("/v1/accounts", headers=_auth(admin))).json()["accounts"]
    target = next(a for a in listed if a["user"]["email"] == "u@example.com")
    added = await http.post(
        f"/v1/accounts/{target['user']['id']}/credits",
        headers=_auth(admin),
        json={"amount_usd": "7.5", "note": "welcome"},
    )
    assert added.json()["balance_usd"] == 7.5
    assert (await http.get("/v1/credits", headers=_auth(user))).json()["balance_usd"] == 7.5
    off = await http.post(f"/v1/accounts/{target['user']['id']}/disable", headers=_auth(admin))
    assert off.json()["user"]["disabled"] is True
    assert (await http.get("/auth/me", headers=_auth(user))).status_code == 401
    refused = await http.post("/auth/login", json={"email": "u@example.com", "password": PASSWORD})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_disabled"
    with pytest.raises(Unauthorized):
        await state.gate.authenticate(secret, "127.0.0.1", POLICY)
    await http.post(f"/v1/accounts/{target['user']['id']}/enable", headers=_auth(admin))
    assert (await state.gate.authenticate(secret, "127.0.0.1", POLICY)).account_id == target["account"]


async def test_a_session_cookie_needs_the_csrf_token_to_change_anything(
    open_api: tuple[httpx.AsyncClient, Accounts],
) -> None:
    http, accounts = open_api
    await _signup(http, "c@example.com")
    user = await accounts.users.find_email("c@example.com")
    assert user is not None
    session = await accounts.sessions.issue(user.id, "session")
    cookies = {SESSION_COOKIE: session, CSRF_COOKIE: "the-csrf-value"}
    http.cookies.update(cookies)
    try:
        assert (await http.get("/v1/keys")).status_code == 200  # reading needs no token
        forged = await http.post("/v1/keys", json={"name": "forged"})
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
        wrong = await http.post("/v1/keys", json={"name": "forged"}, headers={CSRF_HEADER: "other"})
        assert wrong.status_code == 403
        made = await http.post("/v1/keys", json={"name": "real"}, headers={CSRF_HEADER: "the-csrf-value"})
        assert made.status_code == 201
    finally:
        http.cookies.clear()


def test_settings_are_frozen() -> None:
    settings = ConsoleSettings()
    assert replace(settings, registration="open").registration == "open" and settings.registration == "invite"


async def test_a_key_with_its_own_provider_key_where_the_group_allows_it(sqlite_backend: Backend) -> None:
    channel = ChannelSpec("openai", "openai", "http://127.0.0.1:9", None, {"m": "m"}, byok=True)
    policy = replace(
        make_policy(default=GroupSpec("default"), mine=GroupSpec("mine", byok=True)), channels={"openai": channel}
    )
    state = await sqlite_backend.open(vault=Vault(os.urandom(32)))
    try:
        app, _ = _app(state, ConsoleSettings(registration="open", groups=("default", "mine")), policy)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as http:
            token = await _signup(http, "own@example.com")
            refused = await http.post(
                "/v1/keys", headers=_auth(token), json={"name": "k", "byok": {"openai": "sk-provider-secret"}}
            )
            assert refused.status_code == 400 and "does not allow its own provider keys" in refused.text
            assert (await http.get("/v1/keys", headers=_auth(token))).json()["keys"] == []  # nothing half-made
            made = await http.post(
                "/v1/keys",
                headers=_auth(token),
                json={"name": "k", "group": "mine", "byok": {"openai": "sk-provider-secret"}},
            )
            assert made.status_code == 201, made.text
            listed = (await http.get("/v1/keys", headers=_auth(token))).json()["keys"]
            assert listed[0]["byok_channels"] == ["openai"] and "sk-provider-secret" not in str(listed)
            key_id = listed[0]["id"]
            removed = await http.delete(f"/v1/keys/{key_id}/byok/openai", headers=_auth(token))
            assert removed.status_code == 200
            assert (await http.get("/v1/keys", headers=_auth(token))).json()["keys"][0]["byok_channels"] == []
            again = await http.put(f"/v1/keys/{key_id}/byok/openai", headers=_auth(token), json={"secret": "sk-2"})
            assert again.status_code == 200
            other = await _signup(http, "other@example.com")
            stolen = await http.put(f"/v1/keys/{key_id}/byok/openai", headers=_auth(other), json={"secret": "x"})
            assert stolen.status_code == 404
    finally:
        await state.close()
