"""What the executor reports: one record per upstream attempt, and the result a request got
(a whole answer, or a stream whose first bytes are ready). Plain data."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from engine.canonical import Usage
from engine.errors import GatewayError
from engine.routing.plan import Attempt


@dataclass(slots=True)
class AttemptRecord:
    attempt: Attempt
    number: int  # 1-based across the whole request, in the order attempts started
    status: int | None
    failure: str | None
    message: str
    latency_ms: float
    ttfb_ms: float | None
    ended: str = "ok"  # why it ended: ok, 429, first_token_timeout, stream_cut, hedge_lost...
    usage: Usage | None = None  # what the upstream reported (possibly partial)
    output_chars: int = 0  # characters of its output relayed to the client
    delivered: bool = False  # its output reached the client: the key pays for it
    complete: bool = False  # it finished normally, so ``usage`` is the whole of it
    retry_after: float | None = None  # what a rate-limited upstream asked for
    started: float = 0.0  # perf_counter when it began (for trace spans)


@dataclass(slots=True)
class Outcome:
    """Shared by both result shapes: who served (last) and what was tried."""

    attempt: Attempt
    records: list[AttemptRecord]
    attempts_made: int  # including the one that served
    usage: Usage | None = None  # what the serving upstream reported
    error: GatewayError | None = None  # set when a committed stream failed


@dataclass(slots=True)
class Completed:
    outcome: Outcome
    body: bytes


@dataclass(slots=True)
class Streaming:
    outcome: Outcome
    first: bytes
    rest: AsyncGenerator[bytes, None]
    finished: bool = False  # the rest was read to its end, or closed
