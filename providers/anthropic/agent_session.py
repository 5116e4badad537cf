"""``metadata.user_id`` as coding agents fill it: who the end user is and which session.

Claude Code sends a JSON string, ``{"device_id": "...", "account_uuid": "...",
"session_id": "..."}`` (2.x), and older releases ``user_<device>_account_<uuid>_session_<id>``.
Either way it names a device or account (the end user, for the target's user or safety
identifier) and a session (a stable prompt-cache key: one conversation's requests share
their prefix). Any other string is an opaque end-user id with no session.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import orjson

_LEGACY = re.compile(r"^user_(?P<device>[^_]+)_account_(?P<account>[^_]*)_session_(?P<session>.+)$")


class AgentIdentity(NamedTuple):
    user: str | None
    session: str | None


def identity(user_id: str) -> AgentIdentity:
    """The end user and the session ``user_id`` names (the string itself when it is opaque)."""
    if user_id.startswith("{"):
        try:
            parsed = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return AgentIdentity(
                _first(parsed.get("account_uuid"), parsed.get("device_id")) or user_id,
                _first(parsed.get("session_id")),
            )
    legacy = _LEGACY.match(user_id)
    if legacy is not None:
        return AgentIdentity(_first(legacy["account"], legacy["device"]), legacy["session"])
    return AgentIdentity(user_id or None, None)


def _first(*values: object) -> str | None:
    return next((v for v in values if isinstance(v, str) and v), None)
