"""Secrets by reference: ``${ENV_VAR}`` in a policy value, resolved from the environment.

A secret is never written in the policy itself: ``api_key`` must be exactly one
reference, and a credential-carrying header (``authorization``, ``x-api-key``...) must
contain one. An unset or empty variable is not an error: the channel is compiled disabled
with a warning, so a policy with some provider keys missing still loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"})


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
