"""The policy version: a short hash of the canonical content, not of the bytes.

The merged document is dumped with sorted keys, so comments, whitespace, key order and
the split into files do not change the version; the *presence* of each referenced secret
variable is included (a key appearing enables a channel), never its value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

VERSION_LENGTH = 12


def policy_version(data: Mapping[str, Any], secret_presence: Mapping[str, bool]) -> str:
    canonical = orjson.dumps(
        {"policy": data, "secrets_set": dict(secret_presence)},
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return hashlib.sha256(canonical).hexdigest()[:VERSION_LENGTH]
