"""What the executor decides after a failure: retry the same candidate, move on, stop, or
resume; and what the client hears when every attempt failed. Pure.

* Never retried: a terminal refusal (400, the upstream's auth, content policy), a context
  length error (only a larger window may follow), and a timeout before the first token
  (connect, first byte, first token): a silent candidate is not asked again, the next one
  starts at once.
* Retried with backoff: the statuses of ``[retry] on``; with ``"connect"`` in it, a reset or
  refused connection and a stream cut before the first token; with ``"timeout"``, an
  upstream's own 408. A ``Retry-After`` above
  ``max_retry_after`` moves on instead of waiting.
* Resumable after the first byte: a cut, a stall, or an upstream in-band error that is not
  the answer itself (server, rate limit).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from engine.errors import AllUpstreamsFailed, AttemptSummary, FailureKind, UpstreamError
from engine.policy.compiled import RetrySpec
from engine.routing.outcome import AttemptRecord

TERMINAL: frozenset[FailureKind] = frozenset({"bad_request", "content_filter", "auth", "shutdown", "own_key"})
BREAKER_COUNTS: frozenset[FailureKind] = frozenset({"rate_limit", "server", "timeout", "connect", "stream_cut", "auth"})
RESUMABLE: frozenset[FailureKind] = frozenset({"stream_cut", "timeout", "server", "rate_limit", "connect"})


def backoff_delay(retry: RetrySpec, try_index: int, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half fixed, half random."""
    cap: float = min(retry.backoff_max, retry.backoff_base * (2.0**try_index))
    return cap / 2 + rng.uniform(0, cap / 2)


def retryable(err: UpstreamError, retry: RetrySpec) -> bool:
    """Whether ``err`` may be retried on the same candidate (the policy's ``[retry] on``)."""
    if err.failure == "timeout":
        # one of our deadlines (connect, first byte, first token): a silent candidate is not
        # asked again, the next one starts at once; an upstream's own 408 may be retried
        return err.deadline is None and retry.on_timeout
    if err.failure in ("connect", "stream_cut"):
        return retry.on_connect
    if err.failure in ("rate_limit", "server"):
        return err.upstream_status in retry.on_status
    return False


def retry_delay(err: UpstreamError, retry: RetrySpec, try_index: int, rng: random.Random) -> float | None:
    """Seconds to wait before trying the same candidate again, or None to move on."""
    if not retryable(err, retry) or try_index + 1 >= retry.attempts:
        return None
    if err.retry_after is not None and err.retry_after > retry.max_retry_after:
        return None
    delay = backoff_delay(retry, try_index, rng)
    return max(delay, err.retry_after) if err.retry_after is not None else delay


def all_failed(records: list[AttemptRecord], cooldown_left: Callable[[str, str], float]) -> AllUpstreamsFailed:
    """Every attempt failed: 429 with the smallest wait (an upstream's ``Retry-After``, else
    the breaker's remaining cooldown) when all were rate-limited, 504 when all timed out,
    else 502, naming every attempt."""
    ordered = sorted(records, key=lambda r: r.number)
    summaries = [
        AttemptSummary(r.attempt.target.channel, r.attempt.target.model, r.failure or r.ended, r.status, r.message)
        for r in ordered
    ]
    asked = [r.retry_after for r in ordered if r.retry_after is not None]
    wait: float | None = min(asked) if asked else None
    if wait is None:
        cooling = [cooldown_left(r.attempt.target.channel, r.attempt.target.model) for r in ordered]
        wait = min((c for c in cooling if c > 0), default=None)
    return AllUpstreamsFailed(summaries, wait)
