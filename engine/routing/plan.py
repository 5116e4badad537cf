"""plan(): request facts + compiled policy + live health -> the ordered attempts, with why.

Pure apart from the random source it is given (weighted strategy). Steps:

1. Resolve the requested id: an alias evaluates its ``when`` rules in order (first true
   wins; a rule that errors does not match: fail closed), else its ``candidates``; a
   concrete model is its own candidate. Aliases inside ``use`` lists expand recursively.
2. Expand models to targets (model x enabled channel serving it).
3. Drop targets that cannot serve this request: no enabled channel, missing capability
   (tools, vision, json), context window too small for the estimate, an output cap above
   the model's ``max_output_tokens``, breaker open, the channel at its ``max_concurrent``
   (counted per worker), the alias's ``filter`` rule. Every drop is noted.
4. Order the primary targets by the alias's ``order`` rule or strategy; append the
   fallbacks (alias ``fallback`` or the model's own ``fallback`` chain) in order.

When nothing is left: a request too large for every candidate is the client's mistake
(400 ``context_length_exceeded``, or 400 naming the output cap); when every candidate is
cooling down in its breaker and ``[breaker] panic`` is on (the default), the one whose
cooldown ends first is tried anyway; otherwise 503 ``no_route`` with every reason.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from engine.errors import BadRequest, ModelNotFound, NoRoute
from engine.policy.compiled import (
    AliasSpec,
    CelEvalError,
    CelProgram,
    CompiledPolicy,
    ModelSpec,
)
from engine.routing.facts import RequestFacts
from engine.routing.health import Health

MAX_ALIAS_DEPTH = 8


class Target(NamedTuple):  # a tuple: built per candidate per request, cheap to make and hash
    model: str  # public model id
    channel: str
    upstream_model: str


class Attempt(NamedTuple):
    target: Target
    role: Literal["primary", "fallback"]
    estimated_cost_usd: float | None
    context_window: int | None
    buffer: float = 0.0  # seconds of stream output held back before the client sees it (inf: all)
    prefill: bool = False  # the model continues a trailing assistant message (resume target)


@dataclass(frozen=True, slots=True)
class Note:
    """Why a candidate was dropped (kept ones are the plan's attempts)."""

    model: str
    channel: str | None
    kept: bool
    reason: str
    cause: Literal["", "size", "output_cap", "cooling"] = ""  # the drops the planner acts on


@dataclass(frozen=True, slots=True)
class Plan:
    requested: str
    alias: str | None
    rule: str | None  # "1" (1-based rule number), "candidates", or None for a concrete model
    strategy: str
    attempts: tuple[Attempt, ...]
    notes: tuple[Note, ...]
    hedge_after: float | None = None  # seconds without a token before the next candidate races

    def route_header(self, served: Attempt | None, attempts_made: int, tried: Sequence[str] = ()) -> str:
        """``x-turnout-route``: the alias and rule, who served, how many attempts, and why
        each attempt that ended before the answer ended (``tried=model@channel:why, ...``)."""
        parts = []
        if self.alias:
            parts.append(f"alias={self.alias}")
        if self.rule:
            parts.append(f"rule={self.rule}")
        if served is not None:
            parts.append(f"channel={served.target.channel}")
            parts.append(f"model={served.target.model}")
        parts.append(f"attempts={attempts_made}")
        if tried:
            parts.append("tried=" + ", ".join(tried))
        return "; ".join(parts)


@dataclass(slots=True)
class _Scope:
    """What every planning step of one request reads (and the notes it writes)."""

    facts: RequestFacts
    policy: CompiledPolicy
    health: Health
    variables: dict[str, Any]  # the CEL activation: request, key, now (and candidate, per target)
    notes: list[Note]
    rng: random.Random
    buffer: float | None = None  # the alias's stream_buffer (overrides each model's)
    cooling: list[tuple[float, Attempt]] = field(default_factory=list)  # (seconds left, target)


class KeyFacts(NamedTuple):
    name: str = "anonymous"
    group: str = "default"
    tags: tuple[str, ...] = ()

    def cel(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "tags": list(self.tags)}


def estimated_cost(model: ModelSpec, facts: RequestFacts, default_max_tokens: int) -> float | None:
    if model.price is None:
        return None
    if model.kind == "embedding":
        return facts.estimated_tokens * model.price.input / 1_000_000
    if model.kind == "image":
        return facts.images * model.price.image_usd(facts.image_size, facts.image_quality)
    output = facts.max_tokens or default_max_tokens
    return (facts.estimated_tokens * model.price.input + output * model.price.output) / 1_000_000


def plan(
    facts: RequestFacts,
    policy: CompiledPolicy,
    health: Health,
    key: KeyFacts,
    now: datetime,
    rng: random.Random,
) -> Plan:
    requested = facts.model
    variables: dict[str, Any] = {"request": facts.cel(policy.default_max_tokens), "key": key.cel(), "now": now}
    notes: list[Note] = []
    alias = policy.aliases.get(requested)
    _check_kind(facts, policy, alias)
    if alias is not None:
        rule, primary = _select(alias, policy, variables, notes, 0)
        fallback = _expand(alias.fallback, policy, variables, notes, 1)
        strategy = alias.strategy
    elif requested in policy.models:
        rule, primary, strategy = None, [requested], "priority"
        fallback = list(policy.models[requested].fallback)
    else:
        known = ", ".join(policy.public_ids())
        raise ModelNotFound(
            f"The model '{requested}' does not exist. Known models and aliases: {known}",
            code="model_not_found",
            param="model",
        )
    scope = _Scope(facts, policy, health, variables, notes, rng, alias.stream_buffer if alias else None)
    kept = _order(scope, _targets(scope, primary, "primary", alias), strategy, alias)
    seen = {a.target for a in kept}
    for attempt in _targets(scope, fallback, "fallback", None):
        if attempt.target not in seen:
            seen.add(attempt.target)
            kept.append(attempt)
    if not kept:
        kept = [_nothing_left(scope, requested)]
    hedge = alias.hedge_after if alias else None
    return Plan(requested, alias.name if alias else None, rule, strategy, tuple(kept), tuple(notes), hedge)


ENDPOINTS = {"chat": "a chat endpoint", "embedding": "/v1/embeddings", "image": "/v1/images"}


def _check_kind(facts: RequestFacts, policy: CompiledPolicy, alias: AliasSpec | None) -> None:
    """A 400 when the endpoint asks for a model of another kind (an embedding model on
    chat completions, a chat model on /v1/embeddings)."""
    model = policy.models.get(facts.model)
    kind = alias.kind if alias is not None else (model.kind if model is not None else facts.kind)
    if kind != facts.kind:
        what = f"an alias for {kind} models" if alias is not None else f"{_a(kind)} model"
        raise BadRequest(
            f"'{facts.model}' is {what}: ask it on {ENDPOINTS[kind]}; this endpoint serves {facts.kind} models",
            code="wrong_model_kind",
            param="model",
        )


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _nothing_left(scope: _Scope, requested: str) -> Attempt:
    """No candidate is left: the client's mistake (too large), a panic try (every breaker
    open), or no route."""
    notes, facts = scope.notes, scope.facts
    causes = {n.cause for n in notes}
    if notes and causes <= {"size", "output_cap"}:
        if "size" in causes:
            windows = [scope.policy.models[n.model].context_window or 0 for n in notes if n.cause == "size"]
            raise BadRequest(
                f"this request needs about {facts.estimated_tokens + (facts.max_tokens or 0)} tokens "
                f"(prompt estimate {facts.estimated_tokens} + output cap {facts.max_tokens or 0}), more than "
                f"the context window of any model '{requested}' can use (largest: {max(windows)}); "
                "shorten the prompt or lower the output cap",
                kind="context_length",
                code="context_length_exceeded",
                param="messages",
            )
        limits = [scope.policy.models[n.model].max_output_tokens or 0 for n in notes]
        raise BadRequest(
            f"max_tokens {facts.max_tokens} is above the largest output any model '{requested}' can "
            f"use produces ({max(limits)} tokens)",
            code="max_tokens_too_large",
            param="max_tokens",
        )
    if scope.cooling and scope.policy.breaker.panic:
        left, attempt = min(scope.cooling, key=lambda pair: pair[0])
        target = attempt.target
        notes.append(
            Note(
                target.model,
                target.channel,
                True,
                f"panic: every candidate is cooling down; this one reopens first (in {left:.1f}s)",
            )
        )
        return attempt
    reasons = "; ".join(f"{n.model}" + (f"@{n.channel}" if n.channel else "") + f": {n.reason}" for n in notes)
    headers = {}
    if scope.cooling:  # when a candidate reopens is when asking again makes sense
        headers["retry-after"] = str(max(1, math.ceil(min(left for left, _ in scope.cooling))))
    raise NoRoute(
        f"no upstream can serve '{requested}' for this request: {reasons or 'no candidates'}", headers=headers
    )


def _select(
    alias: AliasSpec, policy: CompiledPolicy, variables: dict[str, Any], notes: list[Note], depth: int
) -> tuple[str | None, list[str]]:
    for rule in alias.rules:
        try:
            matched = rule.when.evaluate(variables) is True
        except CelEvalError as exc:
            notes.append(
                Note(alias.name, None, False, f"rule {rule.index + 1} failed ({exc}); treated as not matching")
            )
            continue
        if matched:
            return str(rule.index + 1), _expand(rule.use, policy, variables, notes, depth + 1)
    return ("candidates" if alias.rules else None), _expand(alias.candidates, policy, variables, notes, depth + 1)


def _expand(
    names: tuple[str, ...], policy: CompiledPolicy, variables: dict[str, Any], notes: list[Note], depth: int
) -> list[str]:
    out: list[str] = []
    for name in names:
        nested = policy.aliases.get(name)
        if nested is None:
            out.append(name)
        elif depth < MAX_ALIAS_DEPTH:
            out.extend(_select(nested, policy, variables, notes, depth)[1])
    return list(dict.fromkeys(out))


def _targets(
    scope: _Scope, models: list[str], role: Literal["primary", "fallback"], alias: AliasSpec | None
) -> list[Attempt]:
    facts, policy, health, variables, notes = scope.facts, scope.policy, scope.health, scope.variables, scope.notes
    kept: list[Attempt] = []
    needed = facts.estimated_tokens + (facts.max_tokens or 0)
    for model_id in models:
        model = policy.models[model_id]
        unfit = _unfit(model, facts, needed)
        if unfit is not None:
            notes.append(Note(model_id, None, False, *unfit))
            continue
        if not model.channels:
            notes.append(Note(model_id, None, False, "no enabled channel serves it"))
            continue
        cost = estimated_cost(model, facts, policy.default_max_tokens)
        buffer = scope.buffer if scope.buffer is not None else (model.stream_buffer or 0.0)
        prefill = "prefill" in model.capabilities
        for channel_name in model.channels:
            channel = policy.channels[channel_name]
            target = Target(model_id, channel_name, channel.models[model_id])
            attempt = Attempt(target, role, cost, model.context_window, buffer, prefill)
            if not health.available(channel_name, model_id):
                notes.append(Note(model_id, channel_name, False, "cooling down (breaker open)", "cooling"))
                scope.cooling.append((health.cooldown_left(channel_name, model_id), attempt))
                continue
            if channel.max_concurrent is not None and health.channel_in_flight(channel_name) >= channel.max_concurrent:
                notes.append(
                    Note(model_id, channel_name, False, f"channel saturated ({channel.max_concurrent} in flight)")
                )
                continue
            if alias is not None and alias.filter is not None:
                variables["candidate"] = _candidate(target, model, health)
                try:
                    keep = alias.filter.evaluate(variables) is True
                except CelEvalError as exc:
                    notes.append(Note(model_id, channel_name, False, f"filter failed ({exc})"))
                    continue
                if not keep:
                    notes.append(Note(model_id, channel_name, False, f"filter: {alias.filter.source}"))
                    continue
            kept.append(attempt)
    return kept


def _unfit(model: ModelSpec, facts: RequestFacts, needed: int) -> tuple[str, Literal["", "size", "output_cap"]] | None:
    if facts.has_tools and "tools" not in model.capabilities:
        return "missing capability: tools", ""
    if facts.has_images and "vision" not in model.capabilities:
        return "missing capability: vision", ""
    if facts.wants_json and "json" not in model.capabilities:
        return "missing capability: json", ""
    if model.max_output_tokens is not None and (facts.max_tokens or 0) > model.max_output_tokens:
        return f"output cap {facts.max_tokens} > max_output_tokens {model.max_output_tokens}", "output_cap"
    if model.context_window is not None and needed > model.context_window:
        return f"context window {model.context_window} < {needed} estimated tokens", "size"
    return None


def _candidate(target: Target, model: ModelSpec, health: Health) -> dict[str, Any]:
    view = health.view(target.channel, target.model)
    price = model.price
    return {
        "model": target.model,
        "channel": target.channel,
        "price": {
            "input": price.input if price else 0.0,
            "output": price.output if price else 0.0,
            "cached_input": (price.cached_input or price.input) if price else 0.0,
        },
        "context_window": model.context_window or 0,
        "capabilities": sorted(model.capabilities),
        "latency_p50_ms": view.p50_ms or 0.0,
        "latency_p95_ms": view.p95_ms or 0.0,
        "error_rate": view.error_rate,
        "in_flight": view.in_flight,
    }


def _order(scope: _Scope, attempts: list[Attempt], strategy: str, alias: AliasSpec | None) -> list[Attempt]:
    policy, health, variables, rng = scope.policy, scope.health, scope.variables, scope.rng
    if len(attempts) < 2:
        return attempts
    if alias is not None and alias.order is not None:
        order_rule = alias.order
        return sorted(attempts, key=lambda a: _cel_number(order_rule, a, policy, health, variables))
    if strategy == "cheapest":
        if alias is not None and alias.cost is not None:
            cost_rule = alias.cost
            return sorted(attempts, key=lambda a: _cel_number(cost_rule, a, policy, health, variables))
        return sorted(attempts, key=lambda a: math.inf if a.estimated_cost_usd is None else a.estimated_cost_usd)
    if strategy == "fastest":

        def latency(a: Attempt) -> tuple[bool, float]:
            p50 = health.view(a.target.channel, a.target.model).p50_ms
            return (p50 is None, p50 or 0.0)

        return sorted(attempts, key=latency)
    if strategy == "least-busy":
        return sorted(attempts, key=lambda a: health.view(a.target.channel, a.target.model).in_flight)
    if strategy == "weighted":

        def draw(a: Attempt) -> float:
            weight = max(policy.channels[a.target.channel].weight, 1e-9)
            draw_value: float = rng.random() ** (1.0 / weight)  # Efraimidis-Spirakis weighted shuffle
            return -draw_value

        return sorted(attempts, key=draw)
    return attempts


def _cel_number(
    rule: CelProgram, attempt: Attempt, policy: CompiledPolicy, health: Health, variables: Mapping[str, Any]
) -> float:
    scope = dict(variables)
    scope["candidate"] = _candidate(attempt.target, policy.models[attempt.target.model], health)
    try:
        value: object = rule.evaluate(scope)
    except CelEvalError:
        return math.inf
    return float(value) if isinstance(value, int | float) else math.inf
