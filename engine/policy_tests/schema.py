"""The raw shape of a policy test case, as written in a test file (pydantic, strict, no extras).

A test file holds only ``[[tests]]`` tables; each is one case: a request, the calling key,
optional live health, and what must follow (``expect``). Shape and ranges are checked
here; names that refer to the policy (models, channels, groups, headers, variables) are
checked by ``engine.policy_tests.load``. Defaults are the documented defaults of a case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator

from engine.policy.schema import Count, NonNegative, Positive, Raw
from engine.policy.shape import describe

REFUSALS = (400, 402, 403, 404, 503)  # the statuses the router and the gate can refuse with
RULE_WORDS = ("candidates", "none")


class KeyRaw(Raw):
    """The calling API key: who it is, and what it has spent (for 402 cases)."""

    name: str = "policy-test"
    group: str = "default"
    tags: list[str] = []
    models: list[str] = ["*"]  # the key's own narrowing of its group's globs
    balance_usd: NonNegative | None = None  # a prepaid account's available balance; unset: postpaid
    quota_usd: NonNegative | None = None  # the key's lifetime quota
    spent_usd: NonNegative = 0.0  # spent against the quota
    spent_today_usd: NonNegative = 0.0  # against the group's budget.day
    spent_month_usd: NonNegative = 0.0  # against the group's budget.month


class HealthRaw(Raw):
    """What the worker has observed of one channel (one of its models, or all of them)."""

    channel: str
    model: str | None = None
    breaker: Literal["closed", "open"] = "closed"
    cooldown_s: Positive | None = None  # seconds until an open breaker reopens (default: [breaker] cooldown)
    latency_ms: list[NonNegative] = []  # observed latencies: p50 and p95 come from these
    in_flight: Annotated[int, Field(ge=0)] = 0


class CostRaw(Raw):
    min: NonNegative = 0.0
    max: NonNegative | None = None


class ExpectRaw(Raw):
    """What must follow: a route (rule, first, attempts, cost_usd) or a refusal."""

    rule: int | str | None = None
    first: str | None = None
    attempts: list[str] | None = None
    cost_usd: CostRaw | None = None
    refused: int | None = None
    code: str | None = None
    message: str | None = None  # a part of the refusal's message

    @field_validator("rule", mode="before")
    @classmethod
    def _rule(cls, value: object) -> object:
        if (isinstance(value, int) and not isinstance(value, bool) and value >= 1) or value in RULE_WORDS:
            return value
        raise ValueError('expected a rule number (1, 2, ...), "candidates" or "none"')

    @field_validator("refused", mode="before")
    @classmethod
    def _refused(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool) and value in REFUSALS:
            return value
        raise ValueError(f"expected one of {', '.join(map(str, REFUSALS))}")


class CaseRaw(Raw):
    name: str
    model: str  # a model id or an alias, as a client sends it
    kind: Literal["chat", "embedding", "image"] = "chat"  # the endpoint asked: chat, /v1/embeddings, /v1/images
    prompt: str = "hello"  # the user's message (request.text for rules)
    prompt_tokens: Count | None = None  # the router's prompt estimate, instead of the prompt's own
    max_tokens: Count | None = None
    stream: bool = False
    tools: bool = False
    images: Annotated[int, Field(ge=0)] = 0
    wants_json: bool = False
    headers: dict[str, str] = {}
    key: KeyRaw = KeyRaw()
    now: datetime | None = None
    unset_env: list[str] = []  # variables read as unset (their channels skipped); "*" for all
    health: list[HealthRaw] = []
    expect: ExpectRaw

    @field_validator("now", mode="before")
    @classmethod
    def _offset(cls, value: object) -> object:
        if isinstance(value, datetime) and value.utcoffset() is not None:
            return value
        got = "a time without a UTC offset" if isinstance(value, datetime) else describe(value)
        raise ValueError(f"expected a date and time with a UTC offset, like 2026-01-05T09:30:00Z, got {got}")
