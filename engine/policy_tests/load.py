"""Read a policy directory's test files and validate every case against the policy.

Everything a case says is checked before any case runs, like the policy itself: unknown
keys and bad values (``engine.policy_tests.schema``), and names that must exist in the
policy: the model or alias asked for (unless the case expects 404), models and channels in
``expect`` and ``health``, the key's group, headers (only those ``[router]
request_headers`` lets rules read) and ``unset_env`` variables (only those the policy
references). Every problem is a diagnostic ``file:line: key.path: message``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from engine.policy.compiled import CompiledPolicy, Diagnostic
from engine.policy.locate import format_path
from engine.policy.shape import describe, error_message
from engine.policy.sources import SourceFile
from engine.policy_tests.schema import CaseRaw, ExpectRaw

ROUTE_EXPECTATIONS = ("rule", "first", "attempts", "cost_usd")
REFUSAL_DETAILS = ("code", "message")


@dataclass(frozen=True, slots=True)
class Case:
    file: str  # relative to the policy directory
    line: int
    raw: CaseRaw

    @property
    def name(self) -> str:
        return self.raw.name

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class _File:
    source: SourceFile
    problems: list[Diagnostic]

    def add(self, path: Sequence[str], message: str) -> None:
        line = self.source.positions.line_of(path)
        self.problems.append(Diagnostic(self.source.name, line, format_path(path), message))


def check_cases(
    sources: Sequence[SourceFile], policy: CompiledPolicy, variables: frozenset[str]
) -> tuple[list[Case], list[Diagnostic]]:
    """The valid cases of every file, and every problem. ``policy`` is the policy loaded
    with every variable set; ``variables`` are those it references."""
    cases: list[Case] = []
    problems: list[Diagnostic] = []
    for source in sources:
        file = _File(source, problems)
        for index, raw in _shaped(file):
            before = len(problems)
            _check_names(file, ["tests", str(index)], raw, policy, variables)
            if len(problems) == before:
                cases.append(Case(source.name, source.positions.line_of(["tests", str(index)]), raw))
    return cases, sorted(problems, key=lambda d: (d.file, d.line, d.path, d.message))


def _shaped(file: _File) -> list[tuple[int, CaseRaw]]:
    data = file.source.data
    for key in sorted(data):
        if key != "tests":
            file.add([key], "unknown key (known: tests)")
    tests = data.get("tests")
    if tests is None:
        file.add(["tests"], "a test file needs [[tests]] tables")
        return []
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
        file.add(["tests"], f"expected [[tests]] tables, got {describe(tests)}")
        return []
    out: list[tuple[int, CaseRaw]] = []
    names: dict[str, int] = {}
    for index, value in enumerate(tests):
        path = ["tests", str(index)]
        try:
            raw = CaseRaw.model_validate(value)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = [str(part) for part in error["loc"]]
                file.add([*path, *loc], error_message(CaseRaw, error, loc))
            continue
        first = names.setdefault(raw.name, index)
        if first != index:
            line = file.source.positions.line_of(["tests", str(first), "name"])
            file.add([*path, "name"], f"a case named {raw.name!r} is already in this file (line {line})")
            continue
        out.append((index, raw))
    return out


def _check_names(file: _File, path: list[str], raw: CaseRaw, policy: CompiledPolicy, variables: frozenset[str]) -> None:
    public = policy.public_ids()
    if raw.model not in public and raw.expect.refused != 404:
        file.add([*path, "model"], _unknown("model or alias", raw.model, public))
    if raw.key.group not in policy.groups:
        file.add([*path, "key", "group"], _unknown("group", raw.key.group, policy.groups))
    for header in sorted(raw.headers):
        if header.lower() not in policy.request_headers:
            readable = ", ".join(sorted(policy.request_headers)) or "none"
            file.add(
                [*path, "headers", header],
                f"rules cannot read header {header!r}: it is not in [router] request_headers ({readable})",
            )
    for index, name in enumerate(raw.unset_env):
        if name != "*" and name not in variables:
            file.add([*path, "unset_env", str(index)], _unknown("variable", name, variables))
    for index, health in enumerate(raw.health):
        where = [*path, "health", str(index)]
        channel = policy.channels.get(health.channel)
        if channel is None:
            file.add([*where, "channel"], _unknown("channel", health.channel, policy.channels))
        elif health.model is not None and health.model not in channel.models:
            file.add([*where, "model"], _not_served(health.channel, health.model, channel.models))
        if health.cooldown_s is not None and health.breaker != "open":
            file.add([*where, "cooldown_s"], 'only an open breaker cools down: add breaker = "open"')
    _check_expect(file, [*path, "expect"], raw.expect, raw.model, policy)


def _check_expect(file: _File, path: list[str], expect: ExpectRaw, model: str, policy: CompiledPolicy) -> None:
    said = expect.model_fields_set
    if not said:
        file.add(path, f"say what must follow: one of {', '.join([*ROUTE_EXPECTATIONS, 'refused'])}")
    if expect.refused is not None:
        for key in sorted(said & set(ROUTE_EXPECTATIONS)):
            file.add([*path, key], "a refused request has no route: drop this or `refused`")
    else:
        for key in sorted(said & set(REFUSAL_DETAILS)):
            file.add([*path, key], "only a refusal has a code and a message: add `refused`")
    _check_rule(file, [*path, "rule"], expect.rule, model, policy)
    if expect.first is not None:
        _check_target(file, [*path, "first"], expect.first, policy)
    for index, target in enumerate(expect.attempts or []):
        _check_target(file, [*path, "attempts", str(index)], target, policy)
    cost = expect.cost_usd
    if cost is not None and cost.max is not None and cost.max < cost.min:
        file.add([*path, "cost_usd", "max"], "must be at least min")


def _check_rule(file: _File, path: list[str], rule: int | str | None, model: str, policy: CompiledPolicy) -> None:
    """A rule number the alias has; ``"candidates"`` only for an alias with rules."""
    if rule is None or rule == "none":
        return
    alias = policy.aliases.get(model)
    count = len(alias.rules) if alias is not None else 0
    what = f"alias {model!r} has {count} rule{'s' if count != 1 else ''}" if alias else f"{model!r} is no alias"
    if isinstance(rule, int) and count < rule:
        file.add(path, f"no rule {rule}: {what}")
    elif rule == "candidates" and not count:
        file.add(path, f'no rules to miss: {what} (expect rule = "none")')


def _check_target(file: _File, path: list[str], target: str, policy: CompiledPolicy) -> None:
    """``model@channel`` (or a bare ``model``): both must exist, and the channel serve it."""
    model, _, channel = target.partition("@")
    if model not in policy.models:
        file.add(path, _unknown("model", model, policy.models))
    elif channel:
        spec = policy.channels.get(channel)
        if spec is None:
            file.add(path, _unknown("channel", channel, policy.channels))
        elif model not in spec.models:
            file.add(path, _not_served(channel, model, spec.models))


def _not_served(channel: str, model: str, served: Iterable[str]) -> str:
    return f"channel {channel!r} does not serve {model!r} (it serves {', '.join(sorted(served))})"


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    return f"unknown {what} {name!r} (known: {', '.join(sorted(known)) or 'none'})"
