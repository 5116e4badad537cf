"""Bring your own key, through the real gateway on its embedded store: a key whose group
allows it registers its own provider key for a channel with ``byok = true``; its requests
there carry that key (the fake upstream checks which one it received), are billed at the
group's ``byok_fee`` and marked BYOK in the usage log; a refused own key is the caller's
401 naming the provider, with no fallback to the operator's key; elsewhere, and for keys
whose group does not allow it, nothing changes. The secret is sealed in the database and
never logged, listed or returned."""

from __future__ import annotations

import base64
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from tests.e2e_keys.admin import Admin, CreatedKey
from tests.e2e_keys.deployment import ADMIN_TOKEN, FAKE_KEY, Deployment, deployment
from tests.e2e_keys.turnout_cli import turnout_command
from tests.support.fake_upstream import FakeUpstream, Received
from tests.support.gateway import GatewayProcess, gateway_env
from tests.support.replies import Status

BYOK_KEY = base64.b64encode(bytes(range(32))).decode()
OWN_SECRET = "sk-callers-own-provider-key"
POLICY = """
[channels.own]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
byok = true
models = {{ "own-model" = "up-own", "refused-model" = "up-refused" }}

[channels.operator]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "operator-model" = "up-operator", "backup-model" = "up-backup" }}

[models.own-model]
price = {{ input = 100.0, output = 200.0 }}
[models.refused-model]
price = {{ input = 100.0, output = 200.0 }}
fallback = ["backup-model"]
[models.operator-model]
price = {{ input = 100.0, output = 200.0 }}
[models.backup-model]
price = {{ input = 100.0, output = 200.0 }}

[groups.default]
models = ["*"]

[groups.bring]
models = ["*"]
byok = true
byok_fee = 0.5
"""


@dataclass(frozen=True, slots=True)
class Site:
    deployment: Deployment
    gateway: GatewayProcess
    admin: Admin
    bringer: CreatedKey  # group "bring", its own key registered for channel "own"
    plain: CreatedKey  # group "default"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream) -> Iterator[Site]:
    env = {"TURNOUT_ADMIN_TOKEN": ADMIN_TOKEN, "TURNOUT_BYOK_KEY": BYOK_KEY}
    where = deployment(tmp_path_factory.mktemp("byok"), POLICY.format(base=fake.base_url), env)
    gateway = where.start()
    admin = Admin(gateway.base_url, ADMIN_TOKEN)
    try:
        bringer = admin.create_key("bringer", group="bring")
        plain = admin.create_key("plain", group="default")
        response = httpx.put(
            f"{gateway.base_url}/admin/keys/{bringer.id}/byok/own",
            json={"secret": OWN_SECRET},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 204, response.text
        yield Site(where, gateway, admin, bringer, plain)
    finally:
        admin.close()
        gateway.stop()


def _chat(site: Site, key: CreatedKey, model: str) -> openai.types.chat.ChatCompletion:
    with openai.OpenAI(base_url=f"{site.gateway.base_url}/v1", api_key=key.secret, max_retries=0) as client:
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "one two three"}])


def _last(fake: FakeUpstream, upstream_model: str) -> Received:
    """The latest request for one of this module's upstream models (other modules share the fake)."""
    return fake.requests_for(upstream_model)[-1]


def _rows(site: Site, request_id: str) -> list[tuple[int | None, str | None, int, int, int, int]]:
    db = sqlite3.connect(site.deployment.data_dir / "turnout.db")
    try:
        return db.execute(
            "SELECT attempt, channel, byok, prompt_tokens, completion_tokens, cost_micros FROM usage_log "
            "WHERE request_id = ? ORDER BY attempt",
            (request_id,),
        ).fetchall()
    finally:
        db.close()


def _wait_rows(site: Site, request_id: str) -> list[tuple[int | None, str | None, int, int, int, int]]:
    """The request's rows once the usage log (batched off the request path) wrote them."""
    for _ in range(100):
        rows = _rows(site, request_id)
        if rows:
            return rows
        time.sleep(0.1)
    raise AssertionError("no usage rows")


def test_the_callers_own_key_reaches_the_upstream_and_is_billed_at_the_fee(site: Site, fake: FakeUpstream) -> None:
    with openai.OpenAI(base_url=f"{site.gateway.base_url}/v1", api_key=site.bringer.secret, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="own-model", messages=[{"role": "user", "content": "one two three"}]
        )
    completion = raw.parse()
    assert _last(fake, "up-own").headers["authorization"] == f"Bearer {OWN_SECRET}"
    usage = completion.usage
    assert usage is not None
    request_id = raw.headers["x-request-id"]
    [(attempt, channel, byok, prompt, output, cost), *attempts] = _wait_rows(site, request_id)
    assert (attempt, channel, byok) == (None, "own", 1)
    assert (prompt, output) == (usage.prompt_tokens, usage.completion_tokens)
    assert cost == round(
        (prompt + output) * 0.5
    )  # micro-USD, half-even: $0.50 per 1M tokens, not the $100/$200 list price
    assert [a[2] for a in attempts] == [1]


def test_other_channels_and_other_keys_use_the_operators_key_at_list_price(site: Site, fake: FakeUpstream) -> None:
    _chat(site, site.bringer, "operator-model")  # a channel without byok
    assert _last(fake, "up-operator").headers["authorization"] == f"Bearer {FAKE_KEY}"
    _chat(site, site.plain, "own-model")  # a key whose group does not allow BYOK
    assert _last(fake, "up-own").headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_a_refused_own_key_is_the_callers_401_naming_the_provider_with_no_fallback(
    site: Site, fake: FakeUpstream
) -> None:
    fake.script("up-refused", Status(401))
    before = len(fake.requests)
    with pytest.raises(openai.AuthenticationError) as refused:
        _chat(site, site.bringer, "refused-model")
    assert refused.value.status_code == 401
    assert "own upstream refused your own API key for it (BYOK)" in refused.value.message
    sent = [r for r in fake.requests[before:] if r.model in ("up-refused", "up-backup")]  # (the fake is shared)
    assert [r.model for r in sent] == ["up-refused"]  # never the backup on the operator's key
    assert sent[0].headers["authorization"] == f"Bearer {OWN_SECRET}"
    assert _chat(site, site.plain, "operator-model").choices[0].message.content  # the channel is not tripped


def test_the_secret_is_sealed_listed_by_channel_only_and_never_logged(site: Site) -> None:
    db = sqlite3.connect(site.deployment.data_dir / "turnout.db")
    try:
        [(ciphertext,)] = db.execute("SELECT ciphertext FROM byok_secrets").fetchall()
    finally:
        db.close()
    assert OWN_SECRET.encode() not in bytes(ciphertext)
    listed = httpx.get(
        f"{site.gateway.base_url}/admin/keys/{site.bringer.id}/byok", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
    ).json()
    assert [entry["channel"] for entry in listed["byok"]] == ["own"] and OWN_SECRET not in str(listed)
    assert OWN_SECRET not in site.gateway.logs()


def test_registration_is_refused_where_byok_is_not_allowed(site: Site) -> None:
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    plain = httpx.put(
        f"{site.gateway.base_url}/admin/keys/{site.plain.id}/byok/own", json={"secret": "sk-x"}, headers=headers
    )
    assert plain.status_code == 400 and "does not allow its own provider keys" in plain.text
    channel = httpx.put(
        f"{site.gateway.base_url}/admin/keys/{site.bringer.id}/byok/operator", json={"secret": "sk-x"}, headers=headers
    )
    assert channel.status_code == 400 and "does not take callers' own keys" in channel.text


def test_the_cli_reads_the_secret_from_stdin_and_rotation_reseals(site: Site) -> None:
    where = site.deployment
    env = gateway_env(where.env, where.data_dir)

    def cli(*args: str, stdin: str = "", extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*turnout_command(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=where.root,
            env={**env, **(extra or {})},
        )

    done = cli("keys", "byok", "set", "plain", "own", stdin="sk-from-stdin\n")
    assert done.returncode == 1 and "does not allow its own provider keys" in done.stderr
    site.admin.patch_key(site.plain.id, group="bring")
    done = cli("keys", "byok", "set", "plain", "own", stdin="sk-from-stdin\n")
    assert done.returncode == 0, done.stderr
    assert "sk-from-stdin" not in done.stdout + done.stderr
    assert "own" in cli("keys", "byok", "list", "plain").stdout

    new_key = base64.b64encode(bytes(range(32, 64))).decode()
    rotated = cli("keys", "byok", "rotate", extra={"TURNOUT_BYOK_KEY": new_key, "TURNOUT_BYOK_OLD_KEYS": BYOK_KEY})
    assert rotated.returncode == 0 and "resealed 2 BYOK secret(s)" in rotated.stdout, rotated.stderr
    # sealed with the new key now: the old key alone no longer opens them, the new one does
    assert cli("keys", "byok", "rotate", extra={"TURNOUT_BYOK_KEY": new_key}).stdout.startswith("resealed 0")
    site.admin.patch_key(site.plain.id, group="default")
