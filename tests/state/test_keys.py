"""Key lifecycle: create, list, disable/enable, rotate, delete, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from engine.errors import Unauthorized
from engine.state.errors import Conflict, InvalidInput, NotFound
from engine.state.keys import KeyPatch, NewKey
from engine.state.schema import accounts, api_keys
from engine.state.state import State
from tests.state.conftest import make_policy

POLICY = make_policy()


async def test_create_stores_only_a_keyed_hash(state: State) -> None:
    created = await state.keys.create(NewKey("alice"))
    assert created.secret.startswith("sk-trn-") and len(created.secret) == 47
    assert created.key.prefix == created.secret[7:15]
    assert created.account_created and created.key.account_id == "alice"
    async with state.engine.connect() as conn:
        row = (await conn.execute(sa.select(api_keys))).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    assert created.secret not in stored
    assert created.secret[7:] not in stored
    assert row["secret_hash"] == state.hasher.hash(created.secret)


async def test_list_never_shows_secrets(state: State) -> None:
    first = await state.keys.create(NewKey("b-key"))
    second = await state.keys.create(NewKey("a-key", group="default", models=("gpt-*",)))
    listed = await state.keys.list()
    assert [k.name for k in listed] == ["a-key", "b-key"]
    for record in listed:
        assert not hasattr(record, "secret") and not hasattr(record, "secret_hash")
        assert first.secret not in repr(record) and second.secret not in repr(record)
    assert listed[0].models == ("gpt-*",)


async def test_disable_enable_rotate_delete(state: State) -> None:
    created = await state.keys.create(NewKey("bob"))
    principal = await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    assert principal.key_name == "bob"

    await state.keys.set_enabled("bob", False)
    with pytest.raises(Unauthorized) as disabled:
        await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    assert disabled.value.code == "key_disabled"

    await state.keys.set_enabled(created.key.id, True)
    assert (await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)).key_id == created.key.id

    rotated = await state.keys.rotate("bob")
    assert rotated.secret != created.secret and rotated.key.id == created.key.id
    with pytest.raises(Unauthorized) as old:
        await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
    assert old.value.code == "invalid_api_key"
    assert (await state.gate.authenticate(rotated.secret, "127.0.0.1", POLICY)).key_name == "bob"

    deleted = await state.keys.delete("bob")
    assert deleted.id == created.key.id
    with pytest.raises(Unauthorized):
        await state.gate.authenticate(rotated.secret, "127.0.0.1", POLICY)
    with pytest.raises(NotFound):
        await state.keys.get("bob")
    # the account and its history stay
    assert (await state.accounts.get("bob")).id == "bob"


async def test_names_are_unique_and_accounts_explicit(state: State) -> None:
    await state.keys.create(NewKey("carol"))
    with pytest.raises(Conflict, match="already exists"):
        await state.keys.create(NewKey("carol"))
    # a new key named like an existing account must say which account to bill
    await state.keys.delete("carol")
    with pytest.raises(Conflict, match="account named 'carol'"):
        await state.keys.create(NewKey("carol"))
    again = await state.keys.create(NewKey("carol", account_id="carol"))
    assert again.key.account_id == "carol" and not again.account_created
    shared = await state.keys.create(NewKey("carol-2", account_id="team", prepaid=True))
    assert shared.account_created and (await state.accounts.get("team")).prepaid
    async with state.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(accounts))).scalar_one() == 2


async def test_validation(state: State) -> None:
    with pytest.raises(InvalidInput, match="unknown group 'gold'"):
        await state.keys.create(NewKey("d1", group="gold"), known_groups={"default", "silver"})
    with pytest.raises(InvalidInput, match="not an IP address"):
        await state.keys.create(NewKey("d2", ip_allow=("10.0.0.0/8", "nope")))
    with pytest.raises(InvalidInput, match="invalid key name"):
        await state.keys.create(NewKey("has space"))
    with pytest.raises(InvalidInput, match="quota"):
        await state.keys.create(NewKey("d3", quota_micros=-1))
    created = await state.keys.create(NewKey("d4", group="silver"), known_groups={"default", "silver"})
    assert created.key.group == "silver"


async def test_update_fields(state: State) -> None:
    await state.keys.create(NewKey("erin"))
    expires = datetime.now(UTC) + timedelta(days=3)
    updated = await state.keys.update(
        "erin", KeyPatch(models=("claude-*",), ip_allow=("10.0.0.0/8",), expires_at=expires, quota_micros=5_000_000)
    )
    assert updated.models == ("claude-*",) and updated.ip_allow == ("10.0.0.0/8",)
    assert updated.expires_at is not None and abs((updated.expires_at - expires).total_seconds()) < 1e-3
    assert updated.quota_micros == 5_000_000
    cleared = await state.keys.update("erin", KeyPatch(clear_expiry=True, clear_quota=True))
    assert cleared.expires_at is None and cleared.quota_micros is None
    assert cleared.version > updated.version
