"""Secrets by reference: ``${ENV_VAR}`` or ``${file:/path}`` in a policy value.

``${ENV_VAR}`` is looked up in the environment (and the ``.env`` file), ``${file:PATH}`` reads
a mounted secret file (relative paths from the policy directory; surrounding whitespace and
the final newline dropped): ``engine.policy.secrets`` provides the lookup. Both are read
again on every load, so a rotated secret applies at the next reload.

A secret is never written in the policy itself: ``api_key`` must be exactly one
reference, and a credential-carrying header (``authorization``, ``x-api-key``...) must
contain one. An unset or empty variable is not an error: the channel is compiled disabled
with a warning, so a policy with some provider keys missing still loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_REFERENCE = re.compile(r"\$\{(file:[^}\s]+|[A-Za-z_][A-Za-z0-9_]*)\}")
FILE_PREFIX = "file:"
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"})
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)


@dataclass(frozen=True, slots=True)
class Resolved:
    value: str | None  # None when a referenced variable is unset or empty
    variables: tuple[str, ...]  # every variable referenced, in order
    missing: tuple[str, ...]  # those unset or empty


def is_reference(value: str) -> bool:
    """True when ``value`` is exactly one ``${VAR}`` reference."""
    return _REFERENCE.fullmatch(value.strip()) is not None


def has_reference(value: str) -> bool:
    return _REFERENCE.search(value) is not None


def resolve(value: str, env: Mapping[str, str]) -> Resolved:
    """Substitute every ``${VAR}`` in ``value`` from ``env``."""
    names = tuple(m.group(1) for m in _REFERENCE.finditer(value))
    missing = tuple(name for name in names if not env.get(name))
    if missing:
        return Resolved(None, names, missing)
    text = _REFERENCE.sub(lambda m: env[m.group(1)], value.strip() if is_reference(value) else value)
    return Resolved(text, names, ())


def describe(reference: str) -> str:
    """How a reference is named in messages: the variable, or the file."""
    if reference.startswith(FILE_PREFIX):
        return f"secret file {reference[len(FILE_PREFIX) :]}"
    return reference


def missing_reason(reference: str) -> str:
    if reference.startswith(FILE_PREFIX):
        return f"{describe(reference)} is missing or empty"
    return f"{reference} is not set"


def secret_path(reference: str, base: Path) -> Path:
    """The file a ``file:PATH`` reference names (relative paths from ``base``)."""
    path = Path(reference[len(FILE_PREFIX) :]).expanduser()
    return path if path.is_absolute() else base / path
