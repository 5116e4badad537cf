"""What a key holder sees of its own spending: ``GET /v1/credits`` and ``GET /v1/usage``.

One gateway on the embedded store, started with no key at all (open), closed by the first
key created through the admin API; credit comes from ``turnout credits add``. Each request
returns a known usage from the fake upstream, and each is charged exactly usage x the
policy's price x the group's ``price_multiplier``, streamed or not, in every client format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from google.genai import types as genai_types

from tests.e2e_keys import admin as selfservice
from tests.e2e_keys.admin import Admin, CreatedKey
from tests.e2e_keys.deployment import ADMIN_TOKEN, deployment
from tests.e2e_keys.sdk_calls import Callers
from tests.e2e_keys.waiting import wait_until
from tests.support import openai_wire
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Json, Reply, Stream

PRICE_IN, PRICE_OUT, MULTIPLIER = 2, 8, 1.5  # USD per 1M tokens, so micro-USD per token
POLICY = f"""
[channels.fake]
format = "openai"
base_url = "{{base}}"
api_key = "${{{{FAKE_KEY}}}}"
models = {{{{ "priced-model" = "up-priced" }}}}

[models.priced-model]
price = {{{{ input = {PRICE_IN}, output = {PRICE_OUT} }}}}
context_window = 100000

[groups.default]
models = ["*"]

[groups.metered]
models = ["priced-model"]
price_multiplier = {MULTIPLIER}
"""
PROMPT_TOKENS, COMPLETION_TOKENS = 1234, 567  # what the upstream reports for every call
CHARGE_MICROS = 10_506  # (1234 x 2 + 567 x 8) x 1.5
CREDITS_MICROS = 10_000_000
ANSWER = "counted answer"
CALLS = [
    ("openai", False),
    ("openai", True),
    ("anthropic", True),
    ("anthropic", False),
    ("gemini", True),
    ("gemini", False),
]


CALL_IDS = [f"{fmt}-{'stream' if stream else 'whole'}" for fmt, stream in CALLS]


def test_the_expected_charge_is_usage_times_price_times_multiplier() -> None:
    assert (PROMPT_TOKENS * PRICE_IN + COMPLETION_TOKENS * PRICE_OUT) * MULTIPLIER == CHARGE_MICROS


def upstream_reply(stream: bool) -> Reply:
    """The answer with ``PROMPT_TOKENS`` / ``COMPLETION_TOKENS`` of usage, streamed or whole."""
    if not stream:
        body = openai_wire.completion(
            ANSWER, "up-priced", prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS
        )
        return Json(200, body)
    frames = openai_wire.stream_frames(["counted ", "answer"], "up-priced", done=False)
    usage_chunk = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": openai_wire.CREATED,
        "model": "up-priced",
        "choices": [],
        "usage": openai_wire.usage(PROMPT_TOKENS, COMPLETION_TOKENS),
    }
    return Stream([*frames, openai_wire.data_frame(usage_chunk), openai_wire.DONE])


PROMPT, MAX_TOKENS = "what does this cost?", 1000


def ask(clients: Callers, fmt: str, secret: str, stream: bool) -> str:
    """One request through the format's SDK; the answer text."""
    if fmt == "openai":
        return _ask_openai(clients, secret, stream)
    if fmt == "anthropic":
        return _ask_anthropic(clients, secret, stream)
    models = clients.gemini(secret).models
    config = genai_types.GenerateContentConfig(max_output_tokens=MAX_TOKENS)
    if not stream:
        return models.generate_content(model="priced-model", contents=PROMPT, config=config).text or ""
    chunks = models.generate_content_stream(model="priced-model", contents=PROMPT, config=config)
    return "".join(chunk.text or "" for chunk in chunks)


def _ask_openai(clients: Callers, secret: str, stream: bool) -> str:
    completions = clients.openai(secret).chat.completions
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    if not stream:
        completion = completions.create(model="priced-model", messages=messages, max_tokens=MAX_TOKENS)
        return completion.choices[0].message.content or ""
    chunks = completions.create(model="priced-model", messages=messages, max_tokens=MAX_TOKENS, stream=True)
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def _ask_anthropic(clients: Callers, secret: str, stream: bool) -> str:
    messages = clients.anthropic(secret).messages
    prompt: list[Any] = [{"role": "user", "content": PROMPT}]
    if not stream:
        message = messages.create(model="priced-model", max_tokens=MAX_TOKENS, messages=prompt)
        return "".join(block.text for block in message.content if block.type == "text")
    with messages.stream(model="priced-model", max_tokens=MAX_TOKENS, messages=prompt) as events:
        return "".join(events.text_stream)


@dataclass(frozen=True, slots=True)
class Charged:
    fmt: str
    stream: bool
    answer: str
    charge_micros: int  # the key's spend before and after, from the admin API
    upstream_body: Any


@dataclass(frozen=True, slots=True)
class Metered:
    gateway: GatewayProcess
    key: CreatedKey
    bystander: CreatedKey  # a key of the same group that made no request
    calls: list[Charged]


def _open_mode(gateway: GatewayProcess) -> int:
    return httpx.get(f"{gateway.base_url}/v1/models").status_code


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream) -> Iterator[Metered]:
    site = deployment(tmp_path_factory.mktemp("metered"), POLICY.format(base=fake.base_url))
    gateway = site.start()
    admin = Admin(gateway.base_url, ADMIN_TOKEN)
    clients = Callers(gateway.base_url)
    try:
        assert _open_mode(gateway) == 200  # no key anywhere: open (loopback only)
        key = admin.create_key("meter", group="metered", prepaid=True)
        wait_until(lambda: _open_mode(gateway) == 401, what="the first key ends open mode")
        bystander = admin.create_key("bystander", group="metered")
        added = site.cli.run("credits", "add", key.account, "10", "--note", "e2e top-up")
        assert "balance $10.00" in added, added
        calls = []
        for fmt, stream in CALLS:
            before = admin_spend(admin, key)
            fake.script("up-priced", upstream_reply(stream))
            answer = ask(clients, fmt, key.secret, stream)
            after = wait_until(
                lambda: settled_spend(gateway, admin, key, before),  # noqa: B023 - run at once
                what=f"the {fmt} call is charged",
            )
            calls.append(Charged(fmt, stream, answer, after - before, fake.requests[-1].json))
        yield Metered(gateway, key, bystander, calls)
    finally:
        clients.close()
        admin.close()
        gateway.stop()


def admin_spend(admin: Admin, key: CreatedKey) -> int:
    return int(admin.key(key.id)["spend_micros"])


def settled_spend(gateway: GatewayProcess, admin: Admin, key: CreatedKey, before: int) -> int | None:
    """The key's written spend once it moved and the balance agrees with it (no hold left)."""
    spend = admin_spend(admin, key)
    account = selfservice.credits(gateway.base_url, key.secret)
    if spend == before or account["held_usd"] != 0 or account["balance_micros"] != CREDITS_MICROS - spend:
        return None
    return spend


@pytest.mark.parametrize("index", range(len(CALLS)), ids=CALL_IDS)
def test_each_call_is_charged_usage_times_price_times_multiplier(metered: Metered, index: int) -> None:
    call = metered.calls[index]
    assert call.answer == ANSWER
    assert call.charge_micros == CHARGE_MICROS
    if call.stream:  # the gateway asks the upstream for the usage it meters
        assert call.upstream_body["stream"] is True
        assert call.upstream_body["stream_options"]["include_usage"] is True


def test_credits_show_the_balance_after_the_charges(metered: Metered) -> None:
    spent = CHARGE_MICROS * len(CALLS)
    credits = selfservice.credits(metered.gateway.base_url, metered.key.secret)
    assert credits == {
        "object": "credits",
        "key": "meter",
        "account": metered.key.account,
        "prepaid": True,
        "balance_usd": (CREDITS_MICROS - spent) / 1_000_000,
        "held_usd": 0.0,
        "available_usd": (CREDITS_MICROS - spent) / 1_000_000,
        "balance_micros": CREDITS_MICROS - spent,
        "arrears_usd": 0.0,
        "arrears_micros": 0,
        "key_spend_usd": spent / 1_000_000,
        "key_quota_usd": None,
    }


def written_usage(metered: Metered) -> list[dict[str, Any]]:
    """``GET /v1/usage`` of the metered key once every call's row is written."""

    def rows() -> list[dict[str, Any]] | None:
        report = selfservice.usage(metered.gateway.base_url, metered.key.secret)
        assert (report["object"], report["key"], report["account"]) == ("usage", "meter", metered.key.account)
        found: list[dict[str, Any]] = report["data"]
        return found if sum(r["requests"] for r in found) == len(CALLS) else None

    return wait_until(rows, what="usage rows for every call")


def test_usage_lists_the_calls_with_their_tokens_and_cost(metered: Metered) -> None:
    found = written_usage(metered)
    expected = {(metered.key.id, metered.key.account, "priced-model")}
    assert {(r["key_id"], r["account_id"], r["model"]) for r in found} == expected
    assert sum(r["errors"] for r in found) == 0
    assert sum(r["prompt_tokens"] for r in found) == PROMPT_TOKENS * len(CALLS)
    assert sum(r["completion_tokens"] for r in found) == COMPLETION_TOKENS * len(CALLS)
    assert sum(r["cost_micros"] for r in found) == CHARGE_MICROS * len(CALLS)


def test_a_key_sees_only_its_own_usage_and_credits(metered: Metered) -> None:
    written_usage(metered)
    base, other = metered.gateway.base_url, metered.bystander
    report = selfservice.usage(base, other.secret)
    assert (report["key"], report["account"], report["data"]) == ("bystander", other.account, [])
    credits = selfservice.credits(base, other.secret)
    assert (credits["account"], credits["balance_micros"], credits["key_spend_usd"]) == (other.account, 0, 0.0)
    refused = httpx.get(f"{base}/v1/usage", headers={"authorization": "Bearer sk-trn-not-a-key"})
    assert refused.status_code == 401
