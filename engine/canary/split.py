"""Which side of a canary a request is on. Pure: the same request lands on the same side in
every worker and replica.

In order: the canary's ``header`` (``canary``/``1``/``true`` picks the canary, ``stable``/
``0``/``false`` the stable policy), then the key's group (``groups`` are always on the
canary), then ``percent``: a stable hash of the conversation (the key, the system prompt and
the first user message, which every later turn repeats) or of the key alone
(``sticky = "key"``) falls in the first ``percent`` of 10,000 buckets. The hash does not
depend on the candidate's version, so raising ``percent`` only adds conversations.
``rescues`` says which of a canary's refusals or failures the stable side answers instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from engine.canonical import ChatRequest, TextPart
from engine.errors import GatewayError
from engine.policy.compiled import CanarySpec
from engine.routing.plan import KeyFacts

CANARY_VALUES = frozenset({"canary", "1", "true", "yes"})
STABLE_VALUES = frozenset({"stable", "0", "false", "no"})
BUCKETS = 10_000


def on_canary(spec: CanarySpec, key: KeyFacts, request: ChatRequest, headers: Mapping[str, str]) -> bool:
    if spec.header is not None:
        chosen = headers.get(spec.header, "").strip().lower()
        if chosen in CANARY_VALUES:
            return True
        if chosen in STABLE_VALUES:
            return False
    if key.group in spec.groups:
        return True
    if spec.percent <= 0:
        return False
    return bucket(sticky_identity(spec, key, request)) < spec.percent * BUCKETS / 100


def bucket(identity: bytes) -> int:
    """0..9,999, uniform over identities."""
    return int.from_bytes(hashlib.sha256(identity).digest()[:8], "big") % BUCKETS


def sticky_identity(spec: CanarySpec, key: KeyFacts, request: ChatRequest) -> bytes:
    """What stays the same across a conversation's turns (or a key's requests)."""
    name = (key.name or "").encode()
    if spec.sticky == "key":
        return name
    system = "".join(part.text for part in request.system)
    first = next((m for m in request.messages if m.role == "user"), None)
    opening = "".join(p.text for p in first.parts if isinstance(p, TextPart)) if first is not None else ""
    return b"\x00".join((name, system.encode(), opening.encode()))


def rescues(err: GatewayError) -> bool:
    """Whether a canary's refusal or failure is the canary's to answer for: a server-side
    failure (5xx: upstreams down, no route) or a model the candidate no longer offers or
    allows (404, 403). The stable policy then answers; a client's mistake (400, 413, a
    spent balance) is answered as it is."""
    return err.status >= 500 or err.status in (403, 404)
