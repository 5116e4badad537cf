"""The admin API (``/admin/...``, ``TURNOUT_ADMIN_TOKEN``) and the key holder's own
``/v1/credits`` and ``/v1/usage``, as plain HTTP calls for the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class CreatedKey:
    id: str
    name: str
    account: str
    secret: str


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url.path, response.text)
    body = response.json()
    assert isinstance(body, dict)
    return body


class Admin:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, headers={"authorization": f"Bearer {token}"}, timeout=10.0)

    def close(self) -> None:
        self._http.close()

    def create_key(self, name: str, **fields: Any) -> CreatedKey:
        body = _ok(self._http.post("/admin/keys", json={"name": name, **fields}), 201)
        key = body["key"]
        return CreatedKey(str(key["id"]), str(key["name"]), str(key["account"]), str(body["secret"]))

    def key(self, ref: str) -> dict[str, Any]:
        found: dict[str, Any] = _ok(self._http.get(f"/admin/keys/{ref}"))["key"]
        return found

    def patch_key(self, ref: str, **fields: Any) -> dict[str, Any]:
        key: dict[str, Any] = _ok(self._http.patch(f"/admin/keys/{ref}", json=fields))["key"]
        return key

    def delete_key(self, ref: str) -> dict[str, Any]:
        key: dict[str, Any] = _ok(self._http.delete(f"/admin/keys/{ref}"))["deleted"]
        return key

    def add_credits(self, account: str, amount_usd: str, **fields: Any) -> dict[str, Any]:
        body = _ok(self._http.post(f"/admin/accounts/{account}/credits", json={"amount_usd": amount_usd, **fields}))
        found: dict[str, Any] = body["account"]
        return found

    def account(self, account: str) -> dict[str, Any]:
        found: dict[str, Any] = _ok(self._http.get(f"/admin/accounts/{account}"))["account"]
        return found

    def usage(self, **params: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = _ok(self._http.get("/admin/usage", params=params))["usage"]
        return rows


def credits(base_url: str, secret: str) -> dict[str, Any]:
    """``GET /v1/credits`` with the key itself."""
    return _ok(httpx.get(f"{base_url}/v1/credits", headers={"authorization": f"Bearer {secret}"}))


def usage(base_url: str, secret: str) -> dict[str, Any]:
    """``GET /v1/usage`` with the key itself (``x-api-key``, the other documented header)."""
    return _ok(httpx.get(f"{base_url}/v1/usage", headers={"x-api-key": secret}))
