"""The compiled policy: one immutable object, every reference resolved, every rule compiled.

``engine.policy.compile`` builds it from the raw files; the router (``engine.routing.plan``)
and the executor read it. Nothing here changes after construction: a reload builds a new
``CompiledPolicy`` and the store swaps the pointer.

CEL variables a rule sees (plain Python values, built by the router per request):

``request``  dict: model (str), estimated_tokens (int), max_tokens (int), stream (bool),
             has_tools (bool), has_images (bool), message_count (int), text (str),
             metadata (dict[str, str]), headers (dict[str, str]; only whitelisted names,
             lower-cased), kind (str: chat, embedding or image: what the endpoint asks)
``candidate`` dict: model (str), channel (str), price (dict: input, output, cached_input
             as float USD per 1M tokens), context_window (int), capabilities (list[str]),
             latency_p50_ms (float), latency_p95_ms (float), error_rate (float),
             in_flight (int)
``key``      dict: name (str), group (str), tags (list[str])
``now``      datetime (timezone-aware UTC)

``when`` rules see request/key/now; ``filter``, ``order`` and ``cost`` also see candidate.
The canary's ``rollback`` condition sees ``canary`` and ``stable``, each a dict of the
live statistics of one side (``engine.canary.stats``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, Protocol

Strategy = Literal["priority", "weighted", "cheapest", "fastest", "least-busy"]
# What a model is for: the endpoints that may ask it and the units it is billed in
# (chat: input and output tokens; embedding: input tokens; image: per generated image).
Kind = Literal["chat", "embedding", "image"]
KINDS: tuple[Kind, ...] = ("chat", "embedding", "image")


class CelProgram(Protocol):
    """A compiled, type-checked CEL expression (see ``engine.policy.cel``)."""

    source: str

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """Raises ``CelEvalError`` on a runtime error (the caller fails closed)."""
        ...


class CelEvalError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    first_byte: float = 60.0  # response headers
    first_token: float = 15.0  # a stream's first text, reasoning or tool-call delta
    total: float = 300.0
    idle: float = 30.0  # max silence between chunks (of a stream, or of a body once it started)


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    name: str
    format: str
    base_url: str  # no trailing slash; "demo://local" for the built-in demo provider
    api_key: str | None  # resolved secret; never logged
    models: Mapping[str, str]  # public model id -> upstream model id
    weight: float = 1.0
    priority: int = 0  # lower first among channels serving the same model
    timeout: Timeouts = field(default_factory=Timeouts)
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    max_concurrent: int | None = None
    max_tokens_field: str = "max_completion_tokens"  # "openai" channels: how output is capped
    byok: bool = False  # callers may bring their own key for it
    enabled: bool = True
    skip_reason: str | None = None  # why disabled, e.g. "OPENAI_API_KEY is not set"


@dataclass(frozen=True, slots=True)
class Price:
    input: float  # USD per 1M tokens
    output: float
    cached_input: float | None = None
    per_image: float | None = None  # USD per input image
    batch_discount: float = 0.5  # fraction off for batch jobs, 0..1 (half price by default)
    cache_write: float | None = None  # USD per 1M prompt tokens written to a cache (Anthropic)
    # image models: USD per generated image by size, then quality ("*": any quality)
    images: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # The same prices as exact integers of NANO_MICROS per token (per image), for
    # ``engine.metering``: input, output, cached input (else input), image, cache write
    # (else input).
    units: tuple[int, int, int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cached = self.cached_input if self.cached_input is not None else self.input
        written = self.cache_write if self.cache_write is not None else self.input
        image = (self.per_image or 0.0) * 1_000_000  # USD -> micro-dollars
        units = (
            nano_units(self.input),
            nano_units(self.output),
            nano_units(cached),
            nano_units(image),
            nano_units(written),
        )
        object.__setattr__(self, "units", units)

    def image_usd(self, size: str, quality: str) -> float:
        """USD per image of ``size`` and ``quality``: the exact price when listed, else the
        highest price that could apply (a size or quality not listed, or "auto", is billed
        at the dearest match, never for free)."""
        by_quality = self.images.get(size)
        if by_quality is not None:
            if quality in by_quality:
                return by_quality[quality]
            if "*" in by_quality:
                return by_quality["*"]
            return max(by_quality.values(), default=0.0)
        return max((usd for table in self.images.values() for usd in table.values()), default=0.0)


NANO_MICROS = 1_000_000_000  # prices in 1e-9 micro-dollars: exact for up to 9 decimals


def nano_units(value: float) -> int:
    """``value`` (micro-dollars, or a multiplier) times ``NANO_MICROS``, exactly as written
    (through its shortest decimal repr), rounded half-even past nine decimals."""
    return int((Decimal(repr(value)) * NANO_MICROS).to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    price: Price | None
    context_window: int | None
    capabilities: frozenset[str]
    fallback: tuple[str, ...] = ()  # model ids tried after this one when it is asked directly
    max_output_tokens: int | None = None
    channels: tuple[str, ...] = ()  # enabled channels serving it, in priority order
    stream_buffer: float | None = None  # seconds of output held back (inf = full); None = not set
    kind: Kind = "chat"


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    when: CelProgram
    use: tuple[str, ...]  # model ids or alias names
    location: str  # "file:line" for explain output


@dataclass(frozen=True, slots=True)
class AliasSpec:
    name: str
    rules: tuple[Rule, ...] = ()
    candidates: tuple[str, ...] = ()  # used when there are no rules or none matched
    strategy: Strategy = "priority"
    fallback: tuple[str, ...] = ()
    filter: CelProgram | None = None  # keep a candidate when true
    order: CelProgram | None = None  # ascending sort key (double), overrides strategy
    cost: CelProgram | None = None  # estimated USD for a candidate, used by "cheapest"
    description: str | None = None
    stream_buffer: float | None = None  # overrides its models' (seconds held; inf = full)
    hedge_after: float | None = None  # seconds without a token before the next candidate races
    kind: Kind = "chat"  # the kind of every model it can pick (checked: an alias never mixes kinds)


@dataclass(frozen=True, slots=True)
class RetrySpec:
    on_status: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    on_timeout: bool = True
    on_connect: bool = True
    attempts: int = 2  # tries per candidate, the first included
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    max_retry_after: float = 30.0  # a longer Retry-After falls back instead of waiting


@dataclass(frozen=True, slots=True)
class BreakerSpec:
    failures: int = 5  # consecutive failures that open the breaker
    cooldown: float = 30.0  # seconds before a half-open probe
    panic: bool = True  # all candidates cooling down: try the one whose cooldown ends first


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A key group: what its keys may call, how fast and how much (issue: key management)."""

    name: str
    models: tuple[str, ...] = ("*",)  # globs over model ids and alias names
    rpm: int | None = None  # requests per minute, per key
    tpm: int | None = None  # tokens per minute, per key
    concurrent: int | None = None  # in-flight requests, per key
    budget_day_usd: float | None = None  # per key per UTC day
    budget_month_usd: float | None = None  # per key per UTC month
    price_multiplier: float = 1.0
    ip_allow: tuple[str, ...] = ()  # CIDRs; empty = any
    byok: bool = False
    byok_fee: float = 0.5  # USD per 1M tokens (input + output) served with the caller's own key


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in the policy: ``file:line: key.path: message``."""

    file: str
    line: int
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}: {self.path}: {prefix}{self.message}"


@dataclass(frozen=True, slots=True)
class CanarySpec:
    """``[canary]``: the candidate policy (the files under ``canary/`` in place of the
    stable's same-named ones), which requests it serves, and when it rolls itself back."""

    policy: CompiledPolicy
    rollback: CelProgram  # bool over ``canary`` and ``stable`` statistics
    percent: float = 0.0  # share of conversations (or keys), by a stable hash
    groups: frozenset[str] = frozenset()  # key groups always on the canary
    header: str | None = None  # lower-case; "canary"/"stable" in it picks the side
    sticky: Literal["conversation", "key"] = "conversation"
    window: float = 600.0  # seconds of traffic the statistics cover
    check_every: float = 5.0  # seconds between evaluations
    rescue: bool = True  # a canary failure before the first byte is answered by the stable policy

    @property
    def version(self) -> str:
        return self.policy.version


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    version: str  # hash of the canonical content
    loaded_at: datetime
    source_dir: str
    channels: Mapping[str, ChannelSpec]
    models: Mapping[str, ModelSpec]
    aliases: Mapping[str, AliasSpec]
    retry: RetrySpec = field(default_factory=RetrySpec)
    breaker: BreakerSpec = field(default_factory=BreakerSpec)
    request_headers: frozenset[str] = frozenset()  # header names rules may read (lower-case)
    default_max_tokens: int = 4096  # assumed output size when a request gives none
    groups: Mapping[str, GroupSpec] = field(default_factory=dict)
    warnings: tuple[Diagnostic, ...] = ()
    # A hash of the resolved secrets (never shown): a rotated key swaps the policy in although
    # its public version, which depends only on whether each secret is set, stays the same.
    secrets_digest: str = ""
    secret_files: tuple[str, ...] = ()  # files named by ${file:...} references, to watch
    canary: CanarySpec | None = None  # a candidate beside this (stable) policy

    @property
    def served_versions(self) -> tuple[str, str | None]:
        """This version and its canary's: a reload that changes either swaps the policy."""
        return self.version, self.canary.version if self.canary is not None else None

    def public_ids(self) -> list[str]:
        return sorted([*self.models, *self.aliases])
