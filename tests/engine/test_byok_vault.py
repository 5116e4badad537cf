"""The BYOK vault: a sealed provider key opens only for its own API key and channel, with a
configured vault key; rotation keeps old secrets readable until they are resealed."""

from __future__ import annotations

import base64

import pytest

from engine.byok.vault import Sealed, Vault, VaultError

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


def _vault(current: str = KEY_A, old: str = "") -> Vault:
    vault = Vault.from_settings(current, old)
    assert vault is not None
    return vault


def test_a_sealed_secret_opens_for_its_key_and_channel_only() -> None:
    vault = _vault()
    sealed = vault.seal("sk-own", "key1", "openai")
    assert b"sk-own" not in sealed.ciphertext
    assert vault.open(sealed, "key1", "openai") == "sk-own"
    assert vault.seal("sk-own", "key1", "openai").ciphertext != sealed.ciphertext  # a fresh nonce each time
    for key_id, channel in (("key2", "openai"), ("key1", "anthropic")):
        with pytest.raises(VaultError, match="does not authenticate"):
            vault.open(sealed, key_id, channel)


def test_a_tampered_secret_does_not_open() -> None:
    vault = _vault()
    sealed = vault.seal("sk-own", "key1", "openai")
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1
    with pytest.raises(VaultError, match="does not authenticate"):
        vault.open(Sealed(bytes(flipped), sealed.key_fingerprint), "key1", "openai")


def test_rotation_old_keys_still_open_and_a_retired_key_is_named() -> None:
    sealed = _vault(KEY_A).seal("sk-own", "key1", "openai")
    rotated = _vault(KEY_B, KEY_A)
    assert rotated.open(sealed, "key1", "openai") == "sk-own"
    resealed = rotated.seal("sk-own", "key1", "openai")
    assert resealed.key_fingerprint == rotated.current_fingerprint != sealed.key_fingerprint
    with pytest.raises(VaultError, match="no longer configured.*TURNOUT_BYOK_OLD_KEYS"):
        _vault(KEY_B).open(sealed, "key1", "openai")


def test_settings() -> None:
    assert Vault.from_settings(None) is None and Vault.from_settings("") is None
    with pytest.raises(VaultError, match="not base64"):
        Vault.from_settings("not base64!")
    with pytest.raises(VaultError, match="32 bytes, not 3"):
        Vault.from_settings(base64.b64encode(b"abc").decode())
