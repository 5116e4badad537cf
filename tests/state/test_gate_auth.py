"""Every authentication and authorisation outcome of ``DatabaseGate``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import Forbidden, PaymentRequired, RateLimited, Unauthorized
from engine.policy.compiled import GroupSpec
from engine.state.keys import NewKey
from engine.state.state import State
from tests.state.conftest import make_policy

POLICY = make_policy(
    default=GroupSpec("default"),
    office=GroupSpec("office", models=("gpt-*", "fast"), ip_allow=("10.0.0.0/8",)),
    capped=GroupSpec("capped", budget_day_usd=1.0, budget_month_usd=1.5),
    limited=GroupSpec("limited", rpm=2),
)


async def test_missing_and_unknown_keys(state: State) -> None:
    for credential, code in ((None, "missing_api_key"), ("", "missing_api_key"), ("nope", "invalid_api_key")):
        with pytest.raises(Unauthorized) as caught:
            await state.gate.authenticate(credential, "127.0.0.1", POLICY)
        assert caught.value.code == code and caught.value.status == 401
    unknown = "sk-trn-" + "A" * 40
    with pytest.raises(Unauthorized) as caught:
        await state.gate.authenticate(unknown, "127.0.0.1", POLICY)
    assert caught.value.message == "invalid API key"
    assert unknown not in caught.value.message


async def test_disabled_and_expired(state: State) -> None:
    disabled = await state.keys.create(NewKey("off"))
    await state.keys.set_enabled("off", False)
    with pytest.raises(Unauthorized) as caught:
        await state.gate.authenticate(disabled.secret, "127.0.0.1", POLICY)
    assert caught.value.code == "key_disabled" and "disabled" in caught.value.message

    expired = await state.keys.create(NewKey("old", expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(Unauthorized) as caught:
        await state.gate.authenticate(expired.secret, "127.0.0.1", POLICY)
    assert caught.value.code == "key_expired" and "expired" in caught.value.message

    fresh = await state.keys.create(NewKey("new", expires_at=datetime.now(UTC) + timedelta(days=1)))
    assert (await state.gate.authenticate(fresh.secret, "127.0.0.1", POLICY)).key_name == "new"


async def test_ip_allowlists_of_key_and_group(state: State) -> None:
    keyed = await state.keys.create(NewKey("ipkey", ip_allow=("192.0.2.0/24", "2001:db8::1")))
    assert (await state.gate.authenticate(keyed.secret, "192.0.2.10", POLICY)).key_name == "ipkey"
    assert (await state.gate.authenticate(keyed.secret, "2001:db8::1", POLICY)).key_name == "ipkey"
    assert (await state.gate.authenticate(keyed.secret, "::ffff:192.0.2.10", POLICY)).key_name == "ipkey"
    for outside in ("198.51.100.1", "2001:db8::2", "garbage"):
        with pytest.raises(Forbidden) as caught:
            await state.gate.authenticate(keyed.secret, outside, POLICY)
        assert caught.value.code == "ip_not_allowed" and "allowlist of API key 'ipkey'" in caught.value.message

    office = await state.keys.create(NewKey("officekey", group="office"))
    assert (await state.gate.authenticate(office.secret, "10.1.2.3", POLICY)).group == "office"
    with pytest.raises(Forbidden) as caught:
        await state.gate.authenticate(office.secret, "192.0.2.10", POLICY)
    assert caught.value.code == "ip_not_allowed" and "key group 'office'" in caught.value.message


async def test_group_must_exist_in_the_policy(state: State) -> None:
    created = await state.keys.create(NewKey("orphan", group="gone"))
    with pytest.raises(Forbidden) as caught:
        await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    assert caught.value.code == "group_not_found" and "'gone'" in caught.value.message
    # a policy without groups restricts nothing
    assert (await state.gate.authenticate(created.secret, "127.0.0.1", make_policy())).group == "gone"


async def test_model_globs_of_group_and_key(state: State) -> None:
    created = await state.keys.create(NewKey("globs", group="office", models=("gpt-4o*", "fast")))
    principal = await state.gate.authenticate(created.secret, "10.0.0.1", POLICY)
    state.gate.authorize_model(principal, "gpt-4o-mini", POLICY)
    state.gate.authorize_model(principal, "fast", POLICY)
    for model in ("gpt-3.5-turbo", "claude-3-haiku"):  # outside the key's globs / the group's
        with pytest.raises(Forbidden) as caught:
            state.gate.authorize_model(principal, model, POLICY)
        assert caught.value.code == "model_not_allowed" and f"'{model}'" in caught.value.message
        assert caught.value.param == "model"


async def test_insufficient_balance(state: State) -> None:
    created = await state.keys.create(NewKey("poor", prepaid=True))
    await state.ledger.credit("poor", 1_000_000)
    principal = await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    held = await state.gate.reserve(principal, 0.75)
    with pytest.raises(PaymentRequired) as caught:
        await state.gate.reserve(principal, 0.5)
    assert caught.value.code == "insufficient_balance" and caught.value.status == 402
    await state.gate.settle(held, 0.25)
    await state.ledger.flush()
    assert (await state.gate.reserve(principal, 0.75)).amount_usd == 0.75


async def test_postpaid_accounts_are_not_blocked(state: State) -> None:
    created = await state.keys.create(NewKey("later"))
    principal = await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    reservation = await state.gate.reserve(principal, 5.0)
    await state.gate.settle(reservation, 2.5)
    await state.ledger.flush()
    assert (await state.ledger.balance("later")).balance_micros == -2_500_000


async def test_quota_exceeded(state: State) -> None:
    created = await state.keys.create(NewKey("quota", quota_micros=1_000_000))
    principal = await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    first = await state.gate.reserve(principal, 0.6)
    with pytest.raises(PaymentRequired) as caught:
        await state.gate.reserve(principal, 0.6)  # 0.6 held + 0.6 > 1.0
    assert caught.value.code == "quota_exceeded" and "quota" in caught.value.message
    await state.gate.settle(first, 0.5)
    await state.ledger.flush()
    second = await state.gate.reserve(principal, 0.5)
    await state.gate.settle(second, 0.5)
    with pytest.raises(PaymentRequired) as caught:
        await state.gate.reserve(principal, 0.01)
    assert caught.value.code == "quota_exceeded"


async def test_day_budget_of_the_group(state: State) -> None:
    created = await state.keys.create(NewKey("budget", group="capped"))
    principal = await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    held = await state.gate.reserve(principal, 0.9)
    await state.gate.settle(held, 0.9)
    with pytest.raises(PaymentRequired) as caught:
        await state.gate.reserve(principal, 0.2)
    assert caught.value.code == "budget_exceeded" and "daily budget" in caught.value.message


async def test_rate_limited_with_headers(state: State) -> None:
    created = await state.keys.create(NewKey("fast", group="limited"))
    principal = await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    first = await state.gate.admit(principal, POLICY, 10)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    await state.gate.admit(principal, POLICY, 10)
    with pytest.raises(RateLimited) as caught:
        await state.gate.admit(principal, POLICY, 10)
    headers = caught.value.headers
    assert caught.value.status == 429 and "2 requests per minute" in caught.value.message
    assert int(headers["Retry-After"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
