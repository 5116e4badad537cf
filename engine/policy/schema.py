"""The raw shape of a policy file section, as written by hand (pydantic, strict, no extras).

These models only check shape and ranges; names that refer to each other (channels ->
models, aliases -> models), CEL rules, formats and URLs are checked by
``engine.policy.compile``. Defaults here are the documented defaults of the TOML format.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=1)]


class Raw(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TimeoutRaw(Raw):
    connect: Positive = 5.0
    first_byte: Positive = 60.0  # response headers
    first_token: Positive = 15.0  # the first text, reasoning or tool-call delta of a stream
    total: Positive = 300.0
    idle: Positive = 30.0


# A duration: seconds as a number, or a string with a unit ("500ms", "1.5s", "2m"); and a
# stream buffer: "none", a duration or "full". Checked when compiled (engine.policy.durations).
Duration = float | int | str


class ChannelRaw(Raw):
    format: str
    base_url: str
    api_key: str | None = None
    models: list[str] | dict[str, str]
    timeout: TimeoutRaw = TimeoutRaw()
    weight: Positive = 1.0
    priority: int = 0
    headers: dict[str, str] = {}
    params: dict[str, Any] = {}
    max_concurrent: Count | None = None
    # the field an "openai" channel caps output with: OpenAI's reasoning models refuse
    # max_tokens, while some OpenAI-compatible servers only know max_tokens
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    enabled: bool = True
    byok: bool = False  # a caller whose group allows it may use its own provider key here
    description: str | None = None

    @field_validator("models", mode="before")
    @classmethod
    def _models_shape(cls, value: object) -> object:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return value
        raise ValueError('expected a list of model ids, or a table of public id = "upstream id"')


class PriceRaw(Raw):
    # which keys a model needs depends on its kind (checked when compiled): chat models
    # input and output; embedding models input; image models images
    input: NonNegative | None = None
    output: NonNegative | None = None
    cached_input: NonNegative | None = None
    per_image: NonNegative | None = None
    # image models: USD per generated image, by size and then quality:
    # { "1024x1024" = { low = 0.011, high = 0.167 } } or { "1024x1024" = 0.04 } (any quality)
    images: dict[str, NonNegative | dict[str, NonNegative]] = {}
    batch_discount: Annotated[float, Field(ge=0, le=1)] = 0.5  # fraction off for batch jobs
    cache_write: NonNegative | None = None


class ModelRaw(Raw):
    kind: str = "chat"  # chat | embedding | image (checked when compiled)
    price: PriceRaw | None = None
    context_window: Count | None = None
    capabilities: list[str] = []
    fallback: list[str] = []
    max_output_tokens: Count | None = None
    stream_buffer: Duration | None = None
    description: str | None = None


class RuleRaw(Raw):
    when: str
    use: list[str]

    @field_validator("use", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class HedgeRaw(Raw):
    after: Duration


class AliasRaw(Raw):
    rules: list[RuleRaw] = []
    candidates: list[str] = []
    fallback: list[str] = []
    strategy: str = "priority"
    filter: str | None = None
    order: str | None = None
    cost: str | None = None
    stream_buffer: Duration | None = None
    hedge: HedgeRaw | None = None
    description: str | None = None

    @field_validator("candidates", "fallback", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class BackoffRaw(Raw):
    base: NonNegative = 0.25
    max: NonNegative = 8.0


class RetryRaw(Raw):
    on: list[Any] = [429, 500, 502, 503, 504, "timeout", "connect"]  # checked when compiled
    attempts: Count = 2
    backoff: BackoffRaw = BackoffRaw()
    max_retry_after: NonNegative = 30.0


class BreakerRaw(Raw):
    failures: Count = 5
    cooldown: NonNegative = 30.0
    panic: bool = True  # every candidate cooling down: try the one whose cooldown ends first


class RouterRaw(Raw):
    request_headers: list[str] = []
    default_max_tokens: Count = 4096


class BudgetRaw(Raw):
    day: NonNegative | None = None
    month: NonNegative | None = None


class GroupRaw(Raw):
    models: list[str] = ["*"]
    rpm: Count | None = None
    tpm: Count | None = None
    concurrent: Count | None = None
    budget: BudgetRaw = BudgetRaw()
    price_multiplier: Positive = 1.0
    ip_allow: list[str] = []
    byok: bool = False
    byok_fee: NonNegative = 0.5  # USD per 1M tokens served with the caller's own key
    description: str | None = None


DEFAULT_ROLLBACK = "canary.requests >= 20 && canary.error_rate > stable.error_rate + 0.05"


class CanaryRaw(Raw):
    """``[canary]``: the candidate under ``canary/`` serves a share of traffic (``engine.canary``)."""

    percent: Annotated[float, Field(ge=0, le=100)] = 0.0
    groups: list[str] = []
    header: str | None = None
    sticky: Literal["conversation", "key"] = "conversation"
    rollback: str = DEFAULT_ROLLBACK
    window: Duration = "10m"
    check_every: Duration = "5s"
    rescue: bool = True
    description: str | None = None


ENTRY_MODELS: dict[str, type[Raw]] = {
    "channels": ChannelRaw,
    "models": ModelRaw,
    "aliases": AliasRaw,
    "groups": GroupRaw,
}
SINGLE_MODELS: dict[str, type[Raw]] = {
    "retry": RetryRaw,
    "breaker": BreakerRaw,
    "router": RouterRaw,
    "canary": CanaryRaw,
}
