"""An upstream that returns more tokens than were reserved never drives a prepaid balance below zero.

One gateway on the embedded store. A prepaid key with a few cents asks for 5 output tokens;
the fake upstream answers (whole or streamed) and reports 500. The request still succeeds
(the tokens were generated), the balance goes to exactly $0, the rest is the account's
arrears, and the key is refused with 402 in every client's shape, without reaching the
upstream, until credits have paid the arrears. The ledger rows in the gateway's database
sum to the balance (and their overruns to the arrears) at every step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e_keys import admin as selfservice
from tests.e2e_keys.admin import Admin
from tests.e2e_keys.deployment import ADMIN_TOKEN, Deployment, deployment
from tests.e2e_keys.sdk_calls import FORMATS, Callers, Reply
from tests.e2e_keys.waiting import wait_until
from tests.support import openai_wire
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Json, Stream

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
CREDIT = "0.05"  # covers the worst case of 5 output tokens many times over
PROMPT_TOKENS, COMPLETION_TOKENS = 10, 500  # what the upstream reports: far beyond max_tokens=5
COST_MICROS = PROMPT_TOKENS * 1000 + COMPLETION_TOKENS * 2000  # $1.01
OVERRUN_MICROS = COST_MICROS - 50_000  # $0.96: all but the $0.05 of balance


@dataclass(frozen=True, slots=True)
class Site:
    deployment: Deployment
    gateway: GatewayProcess
    admin: Admin
    clients: Callers


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream) -> Iterator[Site]:
    where = deployment(tmp_path_factory.mktemp("overrun"), POLICY.format(base=fake.base_url))
    where.cli.run("keys", "create", "operator")  # a key before start: the gateway never runs open
    gateway = where.start()
    admin = Admin(gateway.base_url, ADMIN_TOKEN)
    clients = Callers(gateway.base_url)
    try:
        yield Site(where, gateway, admin, clients)
    finally:
        clients.close()
        admin.close()
        gateway.stop()


def overrunning_reply(stream: bool) -> Json | Stream:
    if not stream:
        body = openai_wire.completion(
            "a long answer", "up-priced", prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS
        )
        return Json(200, body)
    frames = openai_wire.stream_frames(["a long ", "answer"], "up-priced", done=False)
    usage_chunk = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": openai_wire.CREATED,
        "model": "up-priced",
        "choices": [],
        "usage": openai_wire.usage(PROMPT_TOKENS, COMPLETION_TOKENS),
    }
    return Stream([*frames, openai_wire.data_frame(usage_chunk), openai_wire.DONE])


def ledger_sums(site: Site, account: str) -> tuple[int, int]:
    """``(sum of amount_micros, sum of overrun_micros)`` of the account's rows, read from the gateway's file."""
    db = sqlite3.connect(site.deployment.data_dir / "turnout.db")
    try:
        row = db.execute(
            "SELECT COALESCE(SUM(amount_micros), 0), COALESCE(SUM(overrun_micros), 0) FROM ledger WHERE account_id = ?",
            (account,),
        ).fetchone()
    finally:
        db.close()
    return int(row[0]), int(row[1])


def settled(site: Site, account: str, balance: int, arrears: int) -> dict[str, Any]:
    """The account once its charges are written and it shows ``balance`` and ``arrears``."""

    def probe() -> dict[str, Any] | None:
        found = site.admin.account(account)
        if (found["balance_micros"], found["arrears_micros"], found["held_usd"]) != (balance, arrears, 0):
            return None
        return found if ledger_sums(site, account) == (balance, arrears) else None

    return wait_until(probe, what=f"{account} at balance {balance} and arrears {arrears}, written")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_overrun_empties_the_balance_and_refuses_the_key_until_topped_up(
    site: Site, fake: FakeUpstream, stream: bool
) -> None:
    name = f"thin-{'stream' if stream else 'whole'}"
    key = site.admin.create_key(name, prepaid=True)
    site.admin.add_credits(key.account, CREDIT)
    fake.script("up-priced", overrunning_reply(stream))

    completions = site.clients.openai(key.secret).chat.completions
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    if stream:
        chunks = completions.create(model="priced-model", messages=messages, max_tokens=5, stream=True)
        answer = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    else:
        completion = completions.create(model="priced-model", messages=messages, max_tokens=5)
        answer = completion.choices[0].message.content or ""
    assert answer == "a long answer"  # generated: the client gets it

    account = settled(site, key.account, 0, OVERRUN_MICROS)
    assert account["balance_usd"] == 0.0 and account["arrears_usd"] == 0.96
    assert selfservice.credits(site.gateway.base_url, key.secret)["arrears_micros"] == OVERRUN_MICROS
    rows = wait_until(
        lambda: selfservice.usage(site.gateway.base_url, key.secret)["data"] or None, what="the usage row"
    )
    assert sum(r["overrun_micros"] for r in rows) == OVERRUN_MICROS  # recorded on the request's usage row
    assert sum(r["cost_micros"] for r in rows) == COST_MICROS

    fake.reset()
    for fmt in FORMATS:
        refused = site.clients.chat(fmt, key.secret, "priced-model", max_tokens=1)
        assert not isinstance(refused, Reply), (fmt, refused)
        assert refused.status == 402, (fmt, refused)
        assert "previous request cost more than was reserved" in refused.message, (fmt, refused.message)
        assert "$0.96" in refused.message and "top up" in refused.message, (fmt, refused.message)
    assert fake.requests == []  # refused before any upstream call

    site.admin.add_credits(key.account, "0.50")  # pays $0.50 of the $0.96: still refused
    settled(site, key.account, 0, OVERRUN_MICROS - 500_000)
    refused = site.clients.chat("openai", key.secret, "priced-model", max_tokens=1)
    assert not isinstance(refused, Reply) and refused.code == "insufficient_balance" and "$0.46" in refused.message

    site.admin.add_credits(key.account, "1")  # pays the last $0.46, keeps $0.54
    settled(site, key.account, 540_000, 0)
    assert site.clients.chat("openai", key.secret, "priced-model", prompt="paid up") == Reply("paid up")
    assert [r.model for r in fake.requests] == ["up-priced"]

    def charged() -> dict[str, Any] | None:
        found = site.admin.account(key.account)
        if found["balance_micros"] == 540_000 or found["held_usd"] != 0:
            return None
        written = ledger_sums(site, key.account) == (found["balance_micros"], found["arrears_micros"])
        return found if written else None

    after = wait_until(charged, what="the paid-up request is charged and written")
    assert after["arrears_micros"] == 0 and 0 < after["balance_micros"] < 540_000
