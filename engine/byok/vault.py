"""Authenticated encryption of callers' provider keys at rest (AES-256-GCM).

The key comes from the settings (``TURNOUT_BYOK_KEY``: 32 bytes, base64). Each ciphertext
is stored with the fingerprint of the key that sealed it, and is bound to its API key and
channel (associated data), so a row copied to another key or channel does not decrypt.

Rotation: put the new key in ``TURNOUT_BYOK_KEY`` and the old one in
``TURNOUT_BYOK_OLD_KEYS`` (comma-separated), restart, run ``turnout keys byok rotate`` (every
secret is sealed again with the new key), then drop the old key from the settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
MAKE_KEY = "python -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())'"


class VaultError(ValueError):
    """A vault that cannot be built from the settings, or a secret it cannot open."""


@dataclass(frozen=True, slots=True)
class Sealed:
    ciphertext: bytes  # nonce + AES-GCM output (with its tag)
    key_fingerprint: str  # which vault key sealed it


def fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"turnout-byok:" + key).hexdigest()[:16]


def parse_key(text: str, name: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(f"{name} is not base64 (make one with: {MAKE_KEY})") from None
    if len(key) != 32:
        raise VaultError(f"{name} must decode to 32 bytes, not {len(key)}")
    return key


class Vault:
    def __init__(self, current: bytes, old: tuple[bytes, ...] = ()) -> None:
        self._current = current
        self.current_fingerprint = fingerprint(current)
        self._keys = {fingerprint(key): AESGCM(key) for key in (*old, current)}

    @classmethod
    def from_settings(cls, current: str | None, old: str = "") -> Vault | None:
        """None when no key is configured (BYOK keys then cannot be stored or used)."""
        if not current:
            return None
        olds = tuple(parse_key(part, "TURNOUT_BYOK_OLD_KEYS") for part in old.split(",") if part.strip())
        return cls(parse_key(current, "TURNOUT_BYOK_KEY"), olds)

    def seal(self, secret: str, key_id: str, channel: str) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.current_fingerprint].encrypt(nonce, secret.encode(), _bound(key_id, channel))
        return Sealed(nonce + sealed, self.current_fingerprint)

    def open(self, sealed: Sealed, key_id: str, channel: str) -> str:
        aead = self._keys.get(sealed.key_fingerprint)
        if aead is None:
            raise VaultError(
                f"the BYOK secret for channel {channel!r} was sealed with a key that is no longer configured "
                f"(fingerprint {sealed.key_fingerprint}): add it to TURNOUT_BYOK_OLD_KEYS"
            )
        nonce, body = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, body, _bound(key_id, channel)).decode()
        except InvalidTag:
            raise VaultError(
                f"the BYOK secret for channel {channel!r} does not authenticate (tampered or moved)"
            ) from None


def _bound(key_id: str, channel: str) -> bytes:
    return f"{key_id}\x00{channel}".encode()
