"""API key secrets: generation, the shown prefix, and the keyed hash that is all we store.

A secret is ``sk-trn-`` followed by 40 random alphanumerics (~238 bits). The database keeps
only ``HMAC-SHA256(hmac_key, secret)``; the HMAC key comes from ``TURNOUT_SECRET_KEY`` or,
for the embedded store, a file generated once in the data directory (mode 0600).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string
from pathlib import Path

SECRET_PREFIX = "sk-trn-"
_ALPHABET = string.ascii_letters + string.digits
_RANDOM_LENGTH = 40
_SHOWN_LENGTH = 8
_KEY_FILE = "secret.key"


def generate_secret() -> str:
    return SECRET_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))


def shown_prefix(secret: str) -> str:
    """The part of a secret safe to list: the first 8 characters after ``sk-trn-``."""
    return secret.removeprefix(SECRET_PREFIX)[:_SHOWN_LENGTH]


def looks_like_secret(credential: str) -> bool:
    return credential.startswith(SECRET_PREFIX) and len(credential) == len(SECRET_PREFIX) + _RANDOM_LENGTH


class KeyHasher:
    """Keyed hashing of secrets; ``fingerprint`` identifies the HMAC key without revealing it."""

    def __init__(self, hmac_key: bytes) -> None:
        if len(hmac_key) < 16:
            raise ValueError("the secret key must be at least 16 bytes long")
        self._key = hmac_key

    def hash(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()

    def fingerprint(self) -> str:
        return hmac.new(self._key, b"turnout key-hash fingerprint", hashlib.sha256).hexdigest()[:16]


def load_hmac_key(secret_key: str | None, data_dir: str | Path) -> bytes:
    """``secret_key`` when given, else the data directory's generated key file (created once)."""
    if secret_key:
        return secret_key.encode()
    path = Path(data_dir).expanduser() / _KEY_FILE
    if not path.exists():
        _create_key_file(path)
    value = path.read_text().strip()
    if len(value) < 32:
        raise ValueError(f"{path} is damaged (too short); restore it or set TURNOUT_SECRET_KEY")
    return value.encode()


def _create_key_file(path: Path) -> None:
    """Write the key to a private temp file, then link it into place (atomic, first wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another worker created it first; use theirs
    finally:
        temp.unlink(missing_ok=True)
