"""Password hashing: argon2id (memory-hard) through argon2-cffi, PHC strings in the database."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 256

# OWASP's recommended argon2id settings: 19 MiB, 2 passes, 1 lane (tens of ms per sign-in).
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A hash of nothing, verified when the account is unknown, so a miss costs as much as a hit.
_DUMMY = _HASHER.hash("turnout: no such account")


def check_password(password: str) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: no account; still spends the same work)."""
    try:
        return _HASHER.verify(stored if stored is not None else _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
