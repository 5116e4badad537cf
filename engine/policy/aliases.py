"""Compiling ``[aliases.*]``: rules, references, strategies, and the checks across aliases.

Checked here: every ``use``/``candidates``/``fallback`` name is a model or an alias; rules
type-check (``when``/``filter`` bool, ``order``/``cost`` double); a rule after an
always-true rule is unreachable; a ``cheapest`` alias without a ``cost`` rule needs a price
on every model it can pick; aliases must not refer to each other in a cycle. An alias with
no servable model right now (every channel disabled) is a warning. An alias picks models of
one kind only (chat, embedding or image): mixing kinds is an error, and its kind is theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import cast

from engine.policy.cel import CelRule, ResultType
from engine.policy.compiled import KINDS, AliasSpec, Kind, ModelSpec, Rule, Strategy
from engine.policy.document import Problems
from engine.policy.durations import parse_duration, parse_stream_buffer
from engine.policy.models import STREAM_BUFFER_HELP
from engine.policy.rules import check_rule
from engine.policy.schema import AliasRaw
from engine.policy.shape import RawPolicy

STRATEGIES: tuple[Strategy, ...] = ("cheapest", "fastest", "least-busy", "priority", "weighted")
_CANDIDATE_RULES: tuple[tuple[str, ResultType], ...] = (
    ("filter", "bool"),
    ("order", "double"),
    ("cost", "double"),
)


def compile_aliases(
    raw: RawPolicy,
    problems: Problems,
    models: Mapping[str, ModelSpec],
    headers: frozenset[str],
) -> dict[str, AliasSpec]:
    out: dict[str, AliasSpec] = {}
    for name in sorted(raw.aliases):
        spec = _alias(name, raw.aliases[name], raw, problems, headers)
        if spec is not None:
            out[name] = spec
    _report_cycles(raw, problems)
    for name in sorted(raw.aliases):
        _check_prices(name, raw, problems)
        kind = _kind(name, raw, problems)
        if name in out:
            out[name] = replace(out[name], kind=kind)
    if not problems.has_errors:  # servability means little while channels are broken
        for name in sorted(raw.aliases):
            _check_servable(name, raw, problems, models)
    return out


def _alias(name: str, alias: AliasRaw, raw: RawPolicy, problems: Problems, headers: frozenset[str]) -> AliasSpec | None:
    path = ["aliases", name]
    errors_before = problems.error_count
    known_models = raw.written.get("models", set())
    targets = known_models | raw.written.get("aliases", set())
    if name in known_models:
        problems.add(path, "an alias cannot have the name of a model")
    if alias.strategy not in STRATEGIES:
        problems.unknown([*path, "strategy"], "strategy", alias.strategy, STRATEGIES)
    incomplete = raw.was_dropped("aliases", name, "rules") or raw.was_dropped("aliases", name, "candidates")
    if not alias.rules and not alias.candidates and not incomplete:
        problems.add(path, "needs rules or candidates (the models or aliases it may pick)")
    rules, always = _rules(path, alias, targets, problems, headers)
    if always is not None and alias.candidates:
        problems.add([*path, "candidates"], f"never used: rules.{always} always matches")
    _check_names(problems, [*path, "candidates"], alias.candidates, targets, name)
    _check_names(problems, [*path, "fallback"], alias.fallback, targets, name)
    programs: dict[str, CelRule | None] = {}
    for field, result in _CANDIDATE_RULES:
        source = getattr(alias, field)
        programs[field] = (
            None
            if source is None
            else check_rule(
                problems,
                [*path, field],
                source,
                scope="candidate",
                result=result,
                whitelisted_headers=headers,
            )
        )
    keep = programs["filter"]
    if keep is not None and not keep.reads and not keep.evaluate({}):
        problems.warn([*path, "filter"], "filters out every candidate (always false)")
    buffer = hedge = None
    if alias.stream_buffer is not None:
        buffer = parse_stream_buffer(alias.stream_buffer)
        if buffer is None:
            problems.add([*path, "stream_buffer"], STREAM_BUFFER_HELP)
    if alias.hedge is not None:
        hedge = parse_duration(alias.hedge.after)
        if hedge is None or hedge <= 0:
            problems.add([*path, "hedge", "after"], 'expected a duration above zero, such as "1.5s" or "800ms"')
    if problems.error_count > errors_before:
        return None
    return AliasSpec(
        name=name,
        rules=tuple(rules),
        candidates=tuple(alias.candidates),
        strategy=cast(Strategy, alias.strategy),  # checked against STRATEGIES above
        fallback=tuple(alias.fallback),
        filter=programs["filter"],
        order=programs["order"],
        cost=programs["cost"],
        description=alias.description,
        stream_buffer=buffer,
        hedge_after=hedge,
    )


def _rules(
    path: list[str],
    alias: AliasRaw,
    targets: set[str],
    problems: Problems,
    headers: frozenset[str],
) -> tuple[list[Rule], int | None]:
    """The compiled rules, and the index of the first always-true rule (if any)."""
    rules: list[Rule] = []
    always: int | None = None
    for index, raw_rule in enumerate(alias.rules):
        rule_path = [*path, "rules", str(index)]
        if always is not None:
            problems.add(rule_path, f"unreachable: rules.{always} above always matches")
            continue
        if not raw_rule.use:
            problems.add([*rule_path, "use"], "needs at least one model or alias")
        _check_names(problems, [*rule_path, "use"], raw_rule.use, targets, path[-1])
        program = check_rule(
            problems,
            [*rule_path, "when"],
            raw_rule.when,
            scope="request",
            result="bool",
            whitelisted_headers=headers,
        )
        if program is None:
            continue
        if not program.reads:
            if program.evaluate({}) is True:
                always = index
            else:
                problems.warn([*rule_path, "when"], "never matches (always false)")
        file, line = problems.doc.where(rule_path)
        rules.append(Rule(index, program, tuple(raw_rule.use), f"{file}:{line}"))
    return rules, always


def _check_names(problems: Problems, path: list[str], names: Sequence[str], targets: set[str], alias: str) -> None:
    for index, target in enumerate(names):
        where = [*path, str(index)]
        if target == alias:
            problems.add(where, "an alias cannot refer to itself")
        elif target not in targets:
            problems.unknown(where, "model or alias", target, targets)


def _references(alias: AliasRaw, *, with_fallback: bool) -> list[str]:
    names = [name for rule in alias.rules for name in rule.use]
    names.extend(alias.candidates)
    if with_fallback:
        names.extend(alias.fallback)
    return names


def _reachable_models(name: str, raw: RawPolicy, *, with_fallback: bool) -> set[str]:
    """Model ids an alias can end up on, through nested aliases (cycle-safe)."""
    found: set[str] = set()
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        alias = raw.aliases.get(current)
        if alias is None:
            continue
        for target in _references(alias, with_fallback=with_fallback):
            if target in raw.aliases:
                stack.append(target)
            elif target in raw.models:
                found.add(target)
    return found


def _check_prices(name: str, raw: RawPolicy, problems: Problems) -> None:
    alias = raw.aliases[name]
    if alias.strategy != "cheapest" or alias.cost is not None:
        return
    unpriced = sorted(
        m
        for m in _reachable_models(name, raw, with_fallback=False)
        if raw.models[m].price is None and not raw.was_dropped("models", m, "price")
    )
    if unpriced:
        problems.add(
            ["aliases", name, "strategy"],
            f"cheapest needs a price for every model it can pick; no price: {', '.join(unpriced)} "
            "(add a price or a cost rule)",
        )


def _kind(name: str, raw: RawPolicy, problems: Problems) -> Kind:
    """The one kind of every model the alias can end up on (an error when they mix)."""
    by_kind: dict[str, list[str]] = {}
    for model in sorted(_reachable_models(name, raw, with_fallback=True)):
        by_kind.setdefault(raw.models[model].kind, []).append(model)
    if len(by_kind) > 1:
        parts = [f"{kind} ({', '.join(models)})" for kind, models in sorted(by_kind.items())]
        mixed = ", ".join(parts[:-1]) + " and " + parts[-1]
        problems.add(["aliases", name], f"mixes model kinds: {mixed}; an alias picks models of one kind")
    for kind in KINDS:
        if kind in by_kind:
            return kind
    return "chat"


def _check_servable(name: str, raw: RawPolicy, problems: Problems, models: Mapping[str, ModelSpec]) -> None:
    reachable = _reachable_models(name, raw, with_fallback=True)
    if reachable and not any(models[m].channels for m in reachable if m in models):
        problems.warn(
            ["aliases", name],
            "no model it can pick is servable right now (all their channels are disabled)",
        )


def _report_cycles(raw: RawPolicy, problems: Problems) -> None:
    edges: dict[str, list[str]] = {
        name: [t for t in _references(alias, with_fallback=True) if t in raw.aliases and t != name]
        for name, alias in raw.aliases.items()
    }
    reported: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in edges[node]:
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    start = cycle.index(min(cycle))
                    ordered = [*cycle[start:], *cycle[:start]]
                    text = " -> ".join([*ordered, ordered[0]])
                    problems.add(["aliases", ordered[0]], f"alias cycle: {text}")
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)
