"""Revocation reaches every replica within 1 s: over Redis pub/sub, and by polling without it."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import Unauthorized
from engine.state.key_secrets import KeyHasher, load_hmac_key
from engine.state.keys import KeyStore, NewKey
from engine.state.state import State, Tuning
from tests.state.conftest import SECRET_KEY, Backend, make_policy

POLICY = make_policy()


async def rejected_within(gate_state: State, secret: str, seconds: float) -> Unauthorized:
    async def until_rejected() -> Unauthorized:
        while True:
            try:
                await gate_state.gate.authenticate(secret, "127.0.0.1", POLICY)
            except Unauthorized as exc:
                return exc
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(until_rejected(), timeout=seconds)


async def test_disable_on_one_replica_reaches_the_other_over_redis(postgres_backend: Backend) -> None:
    # B polls only every 30 s: within 1 s only the pub/sub event can tell it
    replica_a = await postgres_backend.open()
    replica_b = await postgres_backend.open(tuning=Tuning(key_poll_interval=30.0))
    try:
        created = await replica_a.keys.create(NewKey("shared"))
        for replica in (replica_a, replica_b):
            assert (await replica.gate.authenticate(created.secret, "127.0.0.1", POLICY)).key_name == "shared"
        assert replica_b.key_cache.by_id(created.key.id) is not None  # B serves it from memory

        await replica_a.keys.set_enabled("shared", False)
        caught = await rejected_within(replica_b, created.secret, 1.0)
        assert caught.code == "key_disabled"

        await replica_a.keys.set_enabled("shared", True)
        await asyncio.wait_for(_until_accepted(replica_b, created.secret), timeout=1.0)
        rotated = await replica_a.keys.rotate("shared")
        assert (await rejected_within(replica_b, created.secret, 1.0)).code == "invalid_api_key"
        assert (await replica_b.gate.authenticate(rotated.secret, "127.0.0.1", POLICY)).key_name == "shared"
    finally:
        await replica_b.close()
        await replica_a.close()


async def _until_accepted(replica: State, secret: str) -> None:
    while True:
        try:
            await replica.gate.authenticate(secret, "127.0.0.1", POLICY)
            return
        except Unauthorized:
            await asyncio.sleep(0.01)


async def test_without_redis_the_poll_revokes_within_a_second(postgres_backend: Backend) -> None:
    replica_a = await postgres_backend.open(redis_url=None, tuning=Tuning())
    replica_b = await postgres_backend.open(redis_url=None, tuning=Tuning())  # default 0.5 s poll
    try:
        created = await replica_a.keys.create(NewKey("polled"))
        assert (await replica_b.gate.authenticate(created.secret, "127.0.0.1", POLICY)).key_name == "polled"
        await replica_a.keys.delete("polled")
        caught = await rejected_within(replica_b, created.secret, 1.0)
        assert caught.code == "invalid_api_key"
    finally:
        await replica_b.close()
        await replica_a.close()


async def test_a_cli_change_reaches_the_embedded_server(sqlite_backend: Backend) -> None:
    server = await sqlite_backend.open(tuning=Tuning())
    try:
        created = await server.keys.create(NewKey("cli"))
        assert (await server.gate.authenticate(created.secret, "127.0.0.1", POLICY)).key_name == "cli"
        # the CLI runs in another process: its own KeyStore, no way to reach the server's cache
        hasher = KeyHasher(load_hmac_key(SECRET_KEY, sqlite_backend.data_dir))
        await KeyStore(server.engine, hasher).set_enabled("cli", False)
        assert server.key_cache.by_id(created.key.id) is not None  # still cached ...
        caught = await rejected_within(server, created.secret, 1.0)  # ... until the poll
        assert caught.code == "key_disabled"
    finally:
        await server.close()


async def test_unknown_secrets_hit_the_database_once(sqlite_backend: Backend) -> None:
    state = await sqlite_backend.open()
    try:
        calls = 0
        original = state.keys.find_by_secret_hash

        async def counting(secret_hash: str) -> object:
            nonlocal calls
            calls += 1
            return await original(secret_hash)

        state.keys.find_by_secret_hash = counting  # type: ignore[method-assign,assignment]
        created = await state.keys.create(NewKey("cached"))
        for _ in range(3):
            await state.gate.authenticate(created.secret, "127.0.0.1", POLICY)
            with pytest.raises(Unauthorized):
                await state.gate.authenticate("sk-trn-" + "Z" * 40, "127.0.0.1", POLICY)
        assert calls == 2  # one for the key, one for the unknown secret
    finally:
        await state.close()
