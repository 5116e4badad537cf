"""The gateway's error tree and what of it is safe to show a client.

::

    GatewayError                      every error a client may see; .kind picks the shape
    ├── BadRequest            400     malformed JSON, wrong field types
    │   ├── NoCanonicalForm   400     a well-formed feature only the client's own format carries
    │   └── UnsupportedFeature 400    a feature the chosen upstream cannot honour
    ├── Unauthorized          401     missing, unknown, disabled or expired key
    ├── PaymentRequired       402     insufficient_balance / quota_exceeded
    ├── Forbidden             403     model or IP not permitted for the key
    ├── ModelNotFound         404     unknown model id (names the known ones)
    ├── PayloadTooLarge       413     body over the configured limit
    ├── RateLimited           429     gateway-side rate limit (Retry-After)
    ├── NoRoute               503     no candidate can serve the request
    ├── UpstreamError         *       one attempt's failure, classified (retryable or not)
    └── AllUpstreamsFailed    429/502/504 every attempt failed; .attempts lists them

Each client codec renders a GatewayError in its own wire shape from ``kind``,
``status`` and ``message``; exceptions that are not GatewayError never reach a client
as text (the pipeline turns them into ``internal`` with a request id).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal[
    "invalid_request",
    "unsupported_feature",
    "authentication",
    "payment_required",
    "permission",
    "not_found",
    "too_large",
    "rate_limited",
    "no_route",
    "context_length",
    "content_filter",
    "upstream_error",
    "upstream_timeout",
    "overloaded",
    "internal",
]

# What went wrong with one upstream attempt, for retry/fallback decisions.
FailureKind = Literal[
    "rate_limit",  # 429
    "server",  # 5xx
    "timeout",  # connect/first-byte/total/idle deadline
    "connect",  # connection refused/reset, DNS
    "bad_request",  # 400 and other 4xx not listed here
    "auth",  # 401/403 from the upstream (our credentials)
    "not_found",  # 404 from the upstream
    "context_length",  # the prompt did not fit this model
    "content_filter",  # refused by the upstream's content policy
    "stream_cut",  # stream ended without its terminal event
    "shutdown",  # this gateway is shutting down: the answer could not finish within the drain
    "own_key",  # the upstream refused the caller's own provider key (BYOK): theirs to fix
]

# Which timer a "timeout" failure ran out of.
Deadline = Literal["connect", "first_byte", "first_token", "idle", "total"]


class GatewayError(Exception):
    status: int = 500
    kind: ErrorKind = "internal"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        kind: ErrorKind | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind
        self.code = code
        self.param = param
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(GatewayError):
    status = 400
    kind: ErrorKind = "invalid_request"


class NoCanonicalForm(BadRequest):
    """A well-formed feature the canonical model cannot carry (an Anthropic ``document``
    block, an OpenAI ``input_audio`` part...). Raised by client decoders; the pipeline then
    routes the body on an outline and only a same-format upstream (passthrough) can serve it."""

    def __init__(self, message: str, *, param: str | None = None, kind: ErrorKind | None = None) -> None:
        super().__init__(message, kind=kind, code="unsupported_feature", param=param)


class UnsupportedFeature(BadRequest):
    kind: ErrorKind = "unsupported_feature"

    def __init__(self, features: list[str], upstream_format: str) -> None:
        names = ", ".join(sorted(features))
        super().__init__(
            f"not supported by the routed upstream ({upstream_format} format): {names}",
            code="unsupported_feature",
            param=sorted(features)[0] if features else None,
        )
        self.features = features


class PassthroughOnly(UnsupportedFeature):
    """An attempt skipped because the request uses a feature only its own format carries."""

    def __init__(self, refusal: NoCanonicalForm, client_format: str, upstream_format: str) -> None:
        BadRequest.__init__(
            self,
            f"{refusal.message} (a {client_format} upstream could take it as it is; "
            f"the routed upstream speaks {upstream_format})",
            code="unsupported_feature",
            param=refusal.param,
        )
        self.features = [refusal.param] if refusal.param else []


class Unauthorized(GatewayError):
    status = 401
    kind = "authentication"


class PaymentRequired(GatewayError):
    status = 402
    kind = "payment_required"


class Forbidden(GatewayError):
    status = 403
    kind = "permission"


class ModelNotFound(GatewayError):
    status = 404
    kind = "not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    kind = "too_large"


class RateLimited(GatewayError):
    status = 429
    kind = "rate_limited"


class NoRoute(GatewayError):
    status = 503
    kind = "no_route"


class UpstreamError(GatewayError):
    """One attempt's classified failure. ``status`` is what the client would see."""

    def __init__(
        self,
        failure: FailureKind,
        message: str,
        *,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        status, kind = _client_view(failure, upstream_status)
        super().__init__(message, status=status, kind=kind)
        self.failure: FailureKind = failure
        self.upstream_status = upstream_status
        self.retry_after = retry_after
        self.deadline = deadline  # for timeouts: which one

    @property
    def ended(self) -> str:
        """Why the attempt ended, in a word: ``429``, ``first_token_timeout``, ``stream_cut``..."""
        if self.failure == "timeout":
            return f"{self.deadline}_timeout" if self.deadline else "timeout"
        if self.failure in ("rate_limit", "server", "bad_request", "auth", "not_found") and self.upstream_status:
            return str(self.upstream_status)
        return self.failure


def own_key_rejected(err: UpstreamError, channel: str) -> UpstreamError:
    """An upstream's 401/403 to a request made with the caller's own key (BYOK), as the
    caller's error: the upstream's status, naming the provider; never retried elsewhere and
    never counted against the channel's health."""
    if err.failure != "auth":
        return err
    return UpstreamError(
        "own_key",
        f"the {channel} upstream refused your own API key for it (BYOK): {err.message}",
        upstream_status=err.upstream_status,
    )


def _client_view(failure: FailureKind, upstream_status: int | None) -> tuple[int, ErrorKind]:
    if failure == "context_length":
        return 400, "context_length"
    if failure == "content_filter":
        return 400, "content_filter"
    if failure == "bad_request":
        return (upstream_status or 400), "invalid_request"
    if failure == "timeout":
        return 504, "upstream_timeout"
    if failure == "rate_limit":
        return 429, "rate_limited"
    if failure == "shutdown":
        return 503, "overloaded"
    if failure == "own_key":
        return (403, "permission") if upstream_status == 403 else (401, "authentication")
    return 502, "upstream_error"


@dataclass(frozen=True, slots=True)
class AttemptSummary:
    channel: str
    model: str
    failure: str
    status: int | None
    message: str


class AllUpstreamsFailed(GatewayError):
    """Every attempt failed. Every one rate-limited: 429 with ``Retry-After`` (``retry_after``:
    the smallest an upstream asked for, or the breaker's remaining cooldown); every one timed
    out: 504; otherwise 502. The message names every attempt."""

    def __init__(self, attempts: list[AttemptSummary], retry_after: float | None = None) -> None:
        timed_out = bool(attempts) and all(a.failure == "timeout" for a in attempts)
        limited = bool(attempts) and all(a.failure == "rate_limit" for a in attempts)
        lines = "; ".join(
            f"{a.channel}/{a.model}: {a.failure}"
            + (f" {a.status}" if a.status is not None else "")
            + (f" ({a.message})" if a.message else "")
            for a in attempts
        )
        status: int = 502
        kind: ErrorKind = "upstream_error"
        if timed_out:
            status, kind = 504, "upstream_timeout"
        headers: dict[str, str] = {}
        if limited:
            status, kind = 429, "rate_limited"
            headers["retry-after"] = str(max(1, math.ceil(retry_after or 1.0)))
        super().__init__(f"all upstream attempts failed: {lines}", status=status, kind=kind, headers=headers)
        self.attempts = attempts
        self.retry_after = float(headers["retry-after"]) if limited else None
