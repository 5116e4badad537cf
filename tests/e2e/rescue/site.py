"""A running gateway on the rescue policy, with its key, SDK clients and usage log."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.rescue.clients import Clients
from tests.e2e.rescue.policy import policy
from tests.e2e_keys.admin import Admin, CreatedKey
from tests.e2e_keys.waiting import wait_until
from tests.support.gateway import GatewayProcess, start_gateway
from tests.support.policy_files import write_policy

FAKE_KEY = "sk-fake-upstream-secret"
ADMIN_TOKEN = "rescue-admin-token"
USAGE_COLUMNS = (
    "attempt, status, error_type, model_served, channel, prompt_tokens, completion_tokens, cost_micros, estimated"
)


@dataclass(frozen=True, slots=True)
class Site:
    gateway: GatewayProcess
    admin: Admin
    key: CreatedKey
    clients: Clients
    data_dir: Path

    def close(self) -> None:
        self.clients.close()
        self.admin.close()
        self.gateway.stop()

    def usage(self, request_id: str, attempts: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The request's usage-log row and its ``attempts`` attempt rows (in order), read from
        the gateway's database once all of them were flushed."""

        def rows() -> list[dict[str, Any]] | None:
            found = self._rows(request_id)
            return found if len(found) == attempts + 1 else None

        request_row, *attempt_rows = wait_until(rows, what=f"{attempts + 1} usage rows of {request_id}")
        assert request_row["attempt"] is None
        assert [r["attempt"] for r in attempt_rows] == list(range(1, attempts + 1))
        return request_row, attempt_rows

    def _rows(self, request_id: str) -> list[dict[str, Any]]:
        db = sqlite3.connect(self.data_dir / "turnout.db")
        db.row_factory = sqlite3.Row
        try:
            found = db.execute(
                f"SELECT {USAGE_COLUMNS} FROM usage_log WHERE request_id = ? ORDER BY attempt IS NOT NULL, attempt",
                (request_id,),
            ).fetchall()
        finally:
            db.close()
        return [dict(row) for row in found]

    def breaker(self, channel: str, model: str) -> str:
        """The breaker state ``/api/status`` shows for a channel's model."""
        status = httpx.get(f"{self.gateway.base_url}/api/status", timeout=5).json()
        state: str = status["channels"][channel]["models"][model]["state"]
        return state


def open_site(root: Path, base_url: str, **breaker: Any) -> Site:
    """A gateway on the rescue policy (``breaker``: ``policy``'s breaker settings) with an
    admin token and one postpaid key."""
    write_policy(root / "policies", policy(base_url, **breaker))
    env = {"FAKE_KEY": FAKE_KEY, "TURNOUT_ADMIN_TOKEN": ADMIN_TOKEN}
    gateway = start_gateway(root / "policies", env, workdir=root / "work")
    admin = Admin(gateway.base_url, ADMIN_TOKEN)
    try:
        key = admin.create_key("rescue")
        wait_until(lambda: _closed(gateway), what="open mode to end once the key exists")
    except BaseException:
        admin.close()
        gateway.stop()
        raise
    return Site(gateway, admin, key, Clients(gateway.base_url, key.secret), root / "work" / "data")


def _closed(gateway: GatewayProcess) -> bool:
    """A request without a key is refused: the gateway left open mode (until then, even a
    request carrying the new key is served as anonymous, and not billed)."""
    body = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, timeout=5).status_code == 401
