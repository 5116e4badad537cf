"""A client that hangs up mid-stream still pays for what was generated.

The upstream bills the operator for every token it produced, so a client reading 1 of 40
chunks (or 30 of 40) and then hanging up must not get the answer for free. The upstream's
usage never arrives on such a stream (it comes last), so Turnout bills a count of what it
relayed plus the prompt, and marks the usage row estimated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e_keys.admin import Admin
from tests.e2e_keys.deployment import ADMIN_TOKEN, Deployment, deployment
from tests.e2e_keys.waiting import wait_until
from tests.support import openai_wire
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Stream

POLICY = """
[channels.fake]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "priced-model" = "up-priced" }}

[models.priced-model]
price = {{ input = 1000.0, output = 2000.0 }}   # USD per 1M tokens: 1000 / 2000 micro-USD per token
context_window = 8000

[groups.default]
models = ["*"]
"""
WORD = "word "  # 5 characters: two estimated tokens a chunk, by Turnout's 4-characters-a-token count
CHUNKS = 40


@dataclass(frozen=True, slots=True)
class Site:
    deployment: Deployment
    gateway: GatewayProcess
    admin: Admin


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream) -> Iterator[Site]:
    where = deployment(tmp_path_factory.mktemp("aborted"), POLICY.format(base=fake.base_url))
    where.cli.run("keys", "create", "operator")
    gateway = where.start()
    admin = Admin(gateway.base_url, ADMIN_TOKEN)
    try:
        yield Site(where, gateway, admin)
    finally:
        admin.close()
        gateway.stop()


def request_row(site: Site, request_id: str) -> dict[str, Any] | None:
    """The request's usage-log row (``attempt IS NULL``), read from the gateway's database."""
    db = sqlite3.connect(site.deployment.data_dir / "turnout.db")
    db.row_factory = sqlite3.Row
    try:
        row = db.execute(
            "SELECT status, completion_tokens, prompt_tokens, cost_micros, estimated FROM usage_log "
            "WHERE request_id = ? AND attempt IS NULL",
            (request_id,),
        ).fetchone()
    finally:
        db.close()
    return dict(row) if row is not None else None


@pytest.mark.parametrize("read", [1, 30])
def test_a_client_hanging_up_mid_stream_pays_for_what_was_relayed(site: Site, fake: FakeUpstream, read: int) -> None:
    key = site.admin.create_key(f"hangs-up-after-{read}", prepaid=True)
    site.admin.add_credits(key.account, "10")
    frames = openai_wire.stream_frames([WORD] * CHUNKS, "up-priced", include_usage=True)
    fake.script("up-priced", Stream(frames, delay_s=0.02))
    body = {"model": "priced-model", "stream": True, "messages": [{"role": "user", "content": "count for me"}]}
    headers = {"authorization": f"Bearer {key.secret}"}
    got = 0
    with httpx.stream("POST", f"{site.gateway.base_url}/v1/chat/completions", json=body, headers=headers) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content":"word ' in line:
                got += 1
                if got == read:
                    break  # hang up
    row = wait_until(lambda: request_row(site, request_id), what="the usage row of the aborted stream")
    assert row["status"] == 499
    assert row["estimated"] == 1  # the upstream's usage never came: counted by Turnout
    assert row["completion_tokens"] >= read * len(WORD) // 4  # at least what the client read
    assert row["completion_tokens"] < CHUNKS * len(WORD) // 4 + 10  # not the whole answer it never got
    assert row["prompt_tokens"] > 0
    assert row["cost_micros"] == row["prompt_tokens"] * 1000 + row["completion_tokens"] * 2000 > 0

    def charged() -> dict[str, Any] | None:
        account = site.admin.account(key.account)
        return account if account["balance_micros"] == 10_000_000 - row["cost_micros"] else None

    wait_until(charged, what="the key's account charged for the relayed tokens")
