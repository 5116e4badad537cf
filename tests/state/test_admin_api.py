"""The admin HTTP API and the self-service endpoints, over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from engine.access import UsageRecord
from engine.errors import GatewayError
from engine.policy.compiled import GroupSpec
from engine.state.admin_api import admin_routes
from engine.state.selfservice_api import bearer_authenticator, selfservice_routes
from engine.state.state import State
from providers.registry import build_registry
from tests.state.conftest import make_policy

TOKEN = "admin-token-for-tests"
POLICY = make_policy(default=GroupSpec("default"), gold=GroupSpec("gold", rpm=100))


def _openai_error(err: GatewayError) -> Response:
    """What the app passes: OpenAI's error envelope, as the rest of /v1 answers."""
    body = build_registry().codec("openai").encode_error(err)
    return Response(body, status_code=err.status, headers=err.headers, media_type="application/json")


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "127.0.0.1"


@pytest.fixture
async def client(state: State) -> AsyncIterator[httpx.AsyncClient]:
    routes = admin_routes(state, admin_token=TOKEN, policy=lambda: POLICY)
    routes += selfservice_routes(state, bearer_authenticator(state, lambda: POLICY, _client_ip), _openai_error)
    transport = httpx.ASGITransport(app=Starlette(routes=routes))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_admin_token_is_required(client: httpx.AsyncClient, state: State) -> None:
    missing = await client.get("/admin/keys")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication"
    wrong = await client.get("/admin/keys", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "invalid admin token"
    app = Starlette(routes=admin_routes(state, admin_token=None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as http:
        disabled = await http.get("/admin/keys", headers=AUTH)
    assert disabled.status_code == 403 and "TURNOUT_ADMIN_TOKEN" in disabled.json()["error"]["message"]


async def test_key_crud(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/admin/keys",
        headers=AUTH,
        json={"name": "web", "group": "gold", "models": ["gpt-*"], "expires": "30d", "quota_usd": "12.5"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("sk-trn-") and body["key"]["prefix"] == secret[:15]
    assert body["key"]["quota_usd"] == 12.5 and body["key"]["group"] == "gold" and body["account_created"]

    listed = (await client.get("/admin/keys", headers=AUTH)).json()["keys"]
    assert [k["name"] for k in listed] == ["web"] and secret not in str(listed)

    patched = await client.patch("/admin/keys/web", headers=AUTH, json={"enabled": False, "expires": "never"})
    assert patched.json()["key"]["enabled"] is False and patched.json()["key"]["expires_at"] is None

    rotated = (await client.post("/admin/keys/web/rotate", headers=AUTH)).json()
    assert rotated["secret"] != secret

    deleted = await client.delete(f"/admin/keys/{body['key']['id']}", headers=AUTH)
    assert deleted.json()["deleted"]["name"] == "web"
    assert (await client.get("/admin/keys/web", headers=AUTH)).status_code == 404


async def test_errors_are_json(client: httpx.AsyncClient) -> None:
    bad_group = await client.post("/admin/keys", headers=AUTH, json={"name": "x", "group": "platinum"})
    assert bad_group.status_code == 400 and "unknown group 'platinum'" in bad_group.json()["error"]["message"]
    unknown_field = await client.post("/admin/keys", headers=AUTH, json={"name": "x", "colour": "red"})
    assert unknown_field.status_code == 400 and "colour" in unknown_field.json()["error"]["message"]
    not_json = await client.post("/admin/keys", headers=AUTH, content=b"{")
    assert not_json.status_code == 400
    await client.post("/admin/keys", headers=AUTH, json={"name": "dup"})
    duplicate = await client.post("/admin/keys", headers=AUTH, json={"name": "dup", "account": "other"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["type"] == "conflict"
    missing = await client.post("/admin/accounts/nobody/credits", headers=AUTH, json={"amount_usd": 5})
    assert missing.status_code == 404
    negative = await client.post("/admin/accounts/dup/credits", headers=AUTH, json={"amount_usd": -5})
    assert negative.status_code == 400


async def test_credits_usage_and_self_service(client: httpx.AsyncClient, state: State) -> None:
    created = (await client.post("/admin/keys", headers=AUTH, json={"name": "svc", "quota_usd": 3})).json()
    secret, key_id = created["secret"], created["key"]["id"]
    credited = await client.post(
        "/admin/accounts/svc/credits", headers=AUTH, json={"amount_usd": "10.25", "note": "invoice 7", "prepaid": True}
    )
    assert credited.status_code == 200, credited.text
    assert credited.json()["account"]["balance_usd"] == 10.25 and credited.json()["account"]["prepaid"] is True

    principal = await state.gate.authenticate(secret, "127.0.0.1", POLICY)
    reservation = await state.gate.reserve(principal, 1.0)
    await state.gate.settle(reservation, 0.75)
    now = datetime.now(UTC)
    state.gate.record(
        [
            UsageRecord(
                "req-1",
                None,
                now,
                "svc",
                key_id,
                "/v1/chat/completions",
                "gpt-4o",
                None,
                "gpt-4o",
                "openai",
                200,
                None,
                50.0,
                10.0,
                1000,
                200,
                0,
                0,
                0.75,
                "v1",
            ),
        ]
    )
    await state.ledger.flush()
    await state.usage.flush()

    usage = (await client.get("/admin/usage?since=1d&account=svc", headers=AUTH)).json()["usage"]
    assert [(u["model"], u["requests"], u["prompt_tokens"], u["cost_usd"]) for u in usage] == [
        ("gpt-4o", 1, 1000, 0.75)
    ]
    assert (await client.get("/admin/usage?key=svc", headers=AUTH)).json()["usage"] == usage
    account = (await client.get("/admin/accounts/svc", headers=AUTH)).json()["account"]
    assert account["balance_usd"] == 9.5

    credits = await client.get("/v1/credits", headers={"Authorization": f"Bearer {secret}"})
    assert credits.status_code == 200
    assert credits.json()["balance_usd"] == 9.5 and credits.json()["key_spend_usd"] == 0.75
    assert credits.json()["key_quota_usd"] == 3.0
    mine = await client.get("/v1/usage?since=7d", headers={"x-api-key": secret})
    assert [row["requests"] for row in mine.json()["data"]] == [1]
    anonymous = await client.get("/v1/credits")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "missing_api_key"
    assert anonymous.json()["error"]["type"] == "authentication_error"  # OpenAI's shape, like the rest of /v1
    bad_since = await client.get("/v1/usage?since=yesterday-ish", headers={"x-api-key": secret})
    assert bad_since.status_code == 400
    assert bad_since.json()["error"] == {
        "message": bad_since.json()["error"]["message"],
        "type": "invalid_request_error",
        "param": "since",
        "code": None,
    }


async def test_prune_endpoint(client: httpx.AsyncClient, state: State) -> None:
    state.gate.record(
        [
            UsageRecord(
                "old",
                None,
                datetime(2024, 1, 1, tzinfo=UTC),
                None,
                None,
                "/v1/chat/completions",
                "m",
                None,
                "m",
                "c",
                200,
                None,
                1.0,
                None,
                1,
                1,
                0,
                0,
                0.0,
                "v1",
            )
        ]
    )
    pruned = await client.post("/admin/usage/prune", headers=AUTH, json={"before": "2024-06-01"})
    assert pruned.json() == {"deleted_rows": 1, "rollup_rows": 1}
