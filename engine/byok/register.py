"""Registering a caller's own provider key (BYOK): the checks every entry point shares (CLI,
admin API, account API), then the key sealed and stored. The secret is never logged,
echoed or returned; listing shows only the channels that have one."""

from __future__ import annotations

from collections.abc import Callable

from engine.byok.vault import MAKE_KEY
from engine.policy.compiled import CompiledPolicy
from engine.state.byok_store import ByokEntry
from engine.state.errors import InvalidInput
from engine.state.state import State

PolicySource = Callable[[], CompiledPolicy | None]


def check_allowed(policy: CompiledPolicy | None, group: str, channel: str) -> None:
    """The key's group must allow BYOK and the channel must accept callers' keys."""
    if policy is None:
        return
    spec = policy.groups.get(group)
    if spec is None or not spec.byok:
        raise InvalidInput(f"the key's group {group!r} does not allow its own provider keys (set byok = true on it)")
    target = policy.channels.get(channel)
    if target is None:
        known = ", ".join(sorted(name for name, c in policy.channels.items() if c.byok)) or "none"
        raise InvalidInput(f"no channel {channel!r} in the policy (channels taking BYOK keys: {known})")
    if not target.byok:
        raise InvalidInput(f"channel {channel!r} does not take callers' own keys (set byok = true on it)")


async def register(state: State, policy: CompiledPolicy | None, key_ref: str, channel: str, secret: str) -> None:
    if state.vault is None:
        raise InvalidInput(f"BYOK secrets need TURNOUT_BYOK_KEY (32 bytes, base64; make one with: {MAKE_KEY})")
    secret = secret.strip()
    if not secret or any(c.isspace() for c in secret):
        raise InvalidInput("the provider key must be one non-empty token")
    key = await state.keys.get(key_ref)
    check_allowed(policy, key.group, channel)
    await state.byok.put(key.id, channel, state.vault.seal(secret, key.id, channel))


async def listing(state: State, key_ref: str) -> list[ByokEntry]:
    key = await state.keys.get(key_ref)
    return await state.byok.channels(key.id)


async def remove(state: State, key_ref: str, channel: str) -> None:
    key = await state.keys.get(key_ref)
    await state.byok.remove(key.id, channel)


async def rotate(state: State) -> int:
    """Reseal every BYOK secret with the current vault key; how many were resealed."""
    if state.vault is None:
        raise InvalidInput("TURNOUT_BYOK_KEY is not set")
    return await state.byok.reseal(state.vault)
