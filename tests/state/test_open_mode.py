"""Open mode: ``KeyStore.presence`` and the ``KeyedGate`` that reads it.

A store that never held a key is open (everyone is ``anonymous``); the first key closes
it, and deleting every key leaves it closed. The gate asks the store in the background,
never on the request path: concurrent requests in open mode make no query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from engine.access import StaticKeyGate
from engine.errors import Unauthorized
from engine.keyed_gate import KeyedGate
from engine.state.keys import KeyPresence, NewKey
from engine.state.state import State
from tests.state.conftest import Backend, make_policy

POLICY = make_policy()
RECHECK = 0.02


class CountingPresence:
    """``state.keys.presence`` with a count of the queries made."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.calls = 0

    async def __call__(self) -> KeyPresence:
        self.calls += 1
        return await self.state.keys.presence()


async def _eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(RECHECK)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"not within {timeout:g} s: {what}") from None


async def _anonymous(gate: KeyedGate) -> str:
    return (await gate.authenticate(None, "127.0.0.1", POLICY)).key_name


async def test_presence_remembers_that_a_key_existed(state: State) -> None:
    assert await state.keys.presence() == KeyPresence(any_now=False, ever=False)
    await state.keys.create(NewKey("first"))
    assert await state.keys.presence() == KeyPresence(any_now=True, ever=True)
    await state.keys.delete("first")
    assert await state.keys.presence() == KeyPresence(any_now=False, ever=True)


async def test_open_until_the_first_key_then_closed_for_good(state: State) -> None:
    presence = CountingPresence(state)
    gate = KeyedGate(StaticKeyGate([]), state.gate, presence, recheck_seconds=RECHECK)
    try:
        assert await gate.start() == KeyPresence(any_now=False, ever=False)
        assert gate.open
        await state.keys.create(NewKey("first"))
        await _eventually(lambda: not gate.open, "the first key ends open mode")
        with pytest.raises(Unauthorized):
            await _anonymous(gate)
        await state.keys.delete("first")
        checks = presence.calls
        await asyncio.sleep(RECHECK * 10)
        assert presence.calls == checks  # closed for good: nothing left to watch
        assert not gate.open
        with pytest.raises(Unauthorized) as caught:
            await _anonymous(gate)
        assert caught.value.code == "missing_api_key"
    finally:
        await gate.close()


async def test_a_key_created_while_still_open_is_itself_at_once(state: State) -> None:
    """Open mode ends at the next presence check; a key presented before that is already
    authenticated as itself (its group, limits, balance and own provider keys apply), an
    unknown credential is still anonymous, and a disabled key is refused."""
    gate = KeyedGate(StaticKeyGate([]), state.gate, state.keys.presence, recheck_seconds=3600)
    try:
        await gate.start()
        created = await state.keys.create(NewKey("fresh"))
        assert gate.open  # the gate has not looked again yet
        principal = await gate.authenticate(created.secret, "127.0.0.1", POLICY)
        assert (principal.key_name, principal.key_id) == ("fresh", created.key.id)
        stranger = await gate.authenticate("sk-trn-" + "x" * 40, "127.0.0.1", POLICY)
        assert (stranger.key_name, stranger.key_id) == ("anonymous", None)
        await state.keys.set_enabled("fresh", False)
        with pytest.raises(Unauthorized) as refused:
            await gate.authenticate(created.secret, "127.0.0.1", POLICY)
        assert refused.value.code == "key_disabled"
    finally:
        await gate.close()


async def test_concurrent_requests_in_open_mode_make_no_query(state: State) -> None:
    presence = CountingPresence(state)
    gate = KeyedGate(StaticKeyGate([]), state.gate, presence, recheck_seconds=3600)
    try:
        await gate.start()
        assert presence.calls == 1
        names = await asyncio.gather(*(_anonymous(gate) for _ in range(64)))
        assert set(names) == {"anonymous"}
        assert presence.calls == 1
    finally:
        await gate.close()


async def test_a_store_that_had_a_key_starts_closed(backend: Backend) -> None:
    first = await backend.open()
    try:
        await first.keys.create(NewKey("gone"))
        await first.keys.delete("gone")
    finally:
        await first.close()
    state = await backend.open()
    gate = KeyedGate(StaticKeyGate([]), state.gate, state.keys.presence, recheck_seconds=RECHECK)
    try:
        assert await gate.start() == KeyPresence(any_now=False, ever=True)
        assert not gate.open
        with pytest.raises(Unauthorized):
            await _anonymous(gate)
    finally:
        await gate.close()
        await state.close()


async def test_static_keys_never_open_and_never_ask(state: State) -> None:
    asked: list[bool] = []

    async def presence() -> KeyPresence:
        asked.append(True)
        return KeyPresence(any_now=False, ever=False)

    probe: Callable[[], Awaitable[KeyPresence]] = presence
    gate = KeyedGate(StaticKeyGate(["sk-operator"]), state.gate, probe, recheck_seconds=RECHECK)
    try:
        assert await gate.start() is None
        assert not gate.open and asked == []
        assert (await gate.authenticate("sk-operator", "127.0.0.1", POLICY)).key_name == "static"
        with pytest.raises(Unauthorized):
            await _anonymous(gate)
    finally:
        await gate.close()
