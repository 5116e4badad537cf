"""One client request on its way through the pipeline.

``Ingress`` is what the HTTP shell read from the request (format, body, credential,
client IP, headers, request id). ``Call`` carries everything the pipeline's later steps
read once the request is decoded, authorized and planned, so they take one argument
instead of the same eight values each: the policy snapshot the request runs on, the
client's codec, the principal, the canonical request and its routing facts, the plan,
the response headers so far, and what the gate granted (admission and reservation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from engine.access import Admission, Principal, Reservation
from engine.billing import Byok
from engine.canonical import ChatRequest
from engine.policy.compiled import CompiledPolicy
from engine.routing.facts import RequestFacts
from engine.routing.plan import Plan
from providers.base import ClientCodec


class Ingress(NamedTuple):
    """What the route extracted from the HTTP request."""

    fmt: str  # client format
    endpoint: str  # e.g. "/v1/chat/completions"
    body: bytes
    credential: str | None
    client_ip: str
    headers: Mapping[str, str]
    request_id: str
    path_model: str | None = None
    path_stream: bool | None = None
    sse: bool = True  # False: stream in the format's other framing (Gemini without alt=sse)


@dataclass(slots=True)
class Call:
    ingress: Ingress
    policy: CompiledPolicy  # the snapshot this request runs on, whatever reloads happen
    codec: ClientCodec  # the client's format
    headers: dict[str, str]  # response headers so far
    started: float  # perf_counter at arrival
    principal: Principal
    request: ChatRequest  # canonical (or an outline of a passthrough-only body)
    body: Any  # the client's parsed JSON, for same-format passthrough
    facts: RequestFacts
    route: Plan
    multiplier: float = 1.0  # the key group's price multiplier
    byok: Byok | None = None  # where the caller's own provider keys serve it
    planned_at: datetime | None = None  # the ``now`` the plan was made at (recorded for replay)
    admission: Admission | None = None  # set once the gate admitted the request
    reservation: Reservation | None = None  # set once the worst case is reserved
    batch: bool = False  # a batch job's request: priced at each model's batch_discount
    # Canary (``engine.canary``): the canary version the request was sent to (on its rows,
    # whether the canary served it or the stable policy rescued it); on a canary call, the
    # stable policy that answers when the canary fails before the first byte; and how many
    # attempts the canary made before the stable policy took over (its rows come first).
    canary_version: str | None = None
    rescuer: CompiledPolicy | None = None
    attempt_offset: int = 0
