"""Every way the key store refuses a request, over HTTP, as each client sees it.

One gateway on the embedded store (SQLite). The first key comes from the ``turnout`` CLI
(before the gateway starts, so it never runs open), the others from the admin API. Every
refusal is checked in the client's own error shape and status, through the official SDKs
(and ``?key=`` for Gemini), and never reaches the upstream.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e_keys.admin import Admin, CreatedKey
from tests.e2e_keys.deployment import ADMIN_TOKEN, deployment
from tests.e2e_keys.sdk_calls import FORMATS, Callers, Format, Refusal, Reply
from tests.e2e_keys.turnout_cli import created_key
from tests.support import openai_wire
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Json

POLICY = """
[channels.fake]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "cheap-model" = "up-cheap", "priced-model" = "up-priced", "secret-model" = "up-secret" }}

[models.cheap-model]
context_window = 8000

[models.priced-model]
price = {{ input = 1000.0, output = 2000.0 }}   # USD per 1M tokens: $0.001 in, $0.002 out
context_window = 8000

[models.secret-model]
context_window = 8000

[aliases.smart]
rules = [ {{ when = "true", use = ["cheap-model"] }} ]

[groups.default]
models = ["*"]

[groups.cheap-only]
models = ["cheap-model"]

[groups.limited]
models = ["*"]
rpm = 2
"""
QUOTA_USD = "0.05"
# the spending request: 40 in x $0.001 + 5 out x $0.002 = $0.05, the whole quota
SPEND_USAGE = (40, 5)


@dataclass(frozen=True, slots=True)
class Case:
    key: str  # which of the module's keys
    model: str
    status: int
    code: str  # the gateway's error code (OpenAI error.code, Gemini ErrorInfo.reason)
    says: tuple[str, ...]  # fragments of the message


CASES = {
    "unknown": Case("unknown", "cheap-model", 401, "invalid_api_key", ("invalid API key",)),
    "not-a-key": Case("not-a-key", "cheap-model", 401, "invalid_api_key", ("invalid API key",)),
    "disabled": Case("disabled", "cheap-model", 401, "key_disabled", ("'switched-off'", "disabled")),
    "expired": Case("expired", "cheap-model", 401, "key_expired", ("'lapsed'", "expired at 2020-01-01")),
    "ip": Case("ip", "cheap-model", 403, "ip_not_allowed", ("127.0.0.1", "allowlist", "'fenced'")),
    "model": Case("narrow", "secret-model", 403, "model_not_allowed", ("model 'secret-model'", "'narrow'")),
    "alias": Case("narrow", "smart", 403, "model_not_allowed", ("model 'smart'", "'narrow'")),
    "group-model": Case("grouped", "priced-model", 403, "model_not_allowed", ("model 'priced-model'", "'cheap-only'")),
    "no-balance": Case(
        "prepaid", "priced-model", 402, "insufficient_balance", ("insufficient balance", "$0.00 available")
    ),
    "quota": Case("quota", "priced-model", 402, "quota_exceeded", ("quota is exhausted", "$0.05 of $0.05 spent")),
}

# What each client format calls an HTTP status (error.type / error.status) and the SDK's exception.
OPENAI = {
    401: ("authentication_error", "AuthenticationError"),
    402: ("insufficient_quota", "APIStatusError"),
    403: ("permission_error", "PermissionDeniedError"),
    429: ("rate_limit_exceeded", "RateLimitError"),
}
ANTHROPIC = {
    401: ("authentication_error", "AuthenticationError"),
    402: ("billing_error", "PaymentRequiredError"),
    403: ("permission_error", "PermissionDeniedError"),
    429: ("rate_limit_error", "RateLimitError"),
}
GEMINI = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED"}
GEMINI_402 = {"insufficient_balance": "FAILED_PRECONDITION", "quota_exceeded": "RESOURCE_EXHAUSTED"}


def assert_client_shape(fmt: Format, refusal: Refusal, status: int, code: str) -> None:
    """``refusal`` is what this client's own SDK makes of a ``status`` error with ``code``."""
    assert refusal.status == status, refusal
    if fmt == "openai":
        assert (refusal.type, refusal.sdk_error) == OPENAI[status], refusal
        assert refusal.code == code, refusal
    elif fmt.startswith("anthropic"):
        assert (refusal.type, refusal.sdk_error) == ANTHROPIC[status], refusal
    else:
        expected = GEMINI_402[code] if status == 402 else GEMINI[status]
        assert refusal.type == expected, refusal
        assert refusal.code == code, refusal
        assert refusal.sdk_error == ("ClientError" if fmt == "gemini" else "HTTPError"), refusal
    assert refusal.headers.get("x-request-id"), refusal


@dataclass(frozen=True, slots=True)
class Setup:
    gateway: GatewayProcess
    admin: Admin
    clients: Callers
    keys: dict[str, str]  # name -> secret


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream) -> Iterator[Setup]:
    site = deployment(tmp_path_factory.mktemp("auth"), POLICY.format(base=fake.base_url))
    # The CLI creates the first key before the gateway starts, so it never runs open.
    lapsed = created_key(site.cli.run("keys", "create", "lapsed", "--expires", "2020-01-01", "--json"))
    gateway = site.start()
    admin = Admin(gateway.base_url, ADMIN_TOKEN)
    clients = Callers(gateway.base_url)
    try:
        keys = {"expired": lapsed.secret, "unknown": unknown_secret(lapsed), "not-a-key": "sk-e2e-not-a-turnout-key"}
        keys["ip"] = admin.create_key("fenced", ip_allow=["203.0.113.0/24"]).secret
        keys["disabled"] = admin.create_key("switched-off").secret
        assert admin.patch_key("switched-off", enabled=False)["enabled"] is False
        keys["narrow"] = admin.create_key("narrow", models=["cheap-*", "priced-*"]).secret
        keys["grouped"] = admin.create_key("grouped", group="cheap-only").secret
        keys["prepaid"] = admin.create_key("prepaid", prepaid=True).secret
        keys["quota"] = admin.create_key("quota", quota_usd=QUOTA_USD).secret
        yield Setup(gateway, admin, clients, keys)
    finally:
        clients.close()
        admin.close()
        gateway.stop()


def unknown_secret(real: CreatedKey) -> str:
    """A well-formed secret (prefix, length, alphabet) that no key has."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in real.secret.removeprefix("sk-trn-"))
    return "sk-trn-" + body


@pytest.fixture(scope="module")
def spent_quota(setup: Setup, fake: FakeUpstream) -> str:
    """The quota key after one request that spent its whole quota (it worked until then)."""
    prompt, completion = SPEND_USAGE
    body = openai_wire.completion("spent", "up-priced", prompt_tokens=prompt, completion_tokens=completion)
    fake.script("up-priced", Json(200, body))
    secret = setup.keys["quota"]
    assert setup.clients.chat("openai", secret, "priced-model", max_tokens=5) == Reply("spent")
    return secret


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_refusal_in_the_clients_own_shape(
    setup: Setup, fake: FakeUpstream, request: pytest.FixtureRequest, case: str, fmt: Format
) -> None:
    spec = CASES[case]
    secret = request.getfixturevalue("spent_quota") if case == "quota" else setup.keys[spec.key]
    fake.reset()
    outcome = setup.clients.chat(fmt, secret, spec.model)
    assert isinstance(outcome, Refusal), outcome
    assert_client_shape(fmt, outcome, spec.status, spec.code)
    for fragment in spec.says:
        assert fragment in outcome.message, (fragment, outcome.message)
    assert secret not in outcome.message  # never echo a key
    assert fake.requests == []  # refused before any upstream call


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_keys_work_where_allowed(setup: Setup, fake: FakeUpstream, fmt: Format) -> None:
    """The refusals above are about the key, not the client: a permitted call succeeds."""
    outcome = setup.clients.chat(fmt, setup.keys["narrow"], "cheap-model", prompt="fine then")
    assert outcome == Reply("fine then")
    assert [r.model for r in fake.requests] == ["up-cheap"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_rpm_limit_is_429_with_retry_after_and_rate_headers(setup: Setup, fake: FakeUpstream, fmt: Format) -> None:
    key = setup.admin.create_key(f"limited-{fmt}", group="limited")  # rpm = 2
    chat = setup.clients.chat
    assert chat(fmt, key.secret, "cheap-model", prompt="one") == Reply("one")
    assert chat(fmt, key.secret, "cheap-model", prompt="two") == Reply("two")
    refused = chat(fmt, key.secret, "cheap-model", prompt="three")
    assert isinstance(refused, Refusal), refused
    assert_client_shape(fmt, refused, 429, "rate_limit_exceeded")
    assert "2 requests per minute" in refused.message
    headers = {k.lower(): v for k, v in refused.headers.items()}
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"]
    if fmt.startswith("gemini"):
        retry_info = "type.googleapis.com/google.rpc.RetryInfo"
        retry = [d for d in refused.details if d.get("@type") == retry_info]
        assert retry == [{"@type": retry_info, "retryDelay": f"{headers['retry-after']}s"}]
    assert len(fake.requests) == 2
