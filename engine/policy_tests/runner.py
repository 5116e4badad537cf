"""Run one policy test case: the gate's pure checks and the router's plan, then compare.

Pure: a validated case and the compiled policy in, a ``Result`` out; no upstream is ever
called. The steps are the server's, in its order: the key's group and model globs (403,
``engine.access``), the plan (404 unknown model, 400 too large, 503 no route,
``engine.routing.plan``), then the worst-case reservation against the key's quota, its
group's budgets and a prepaid balance (402, ``engine.state.spend_rules``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from engine.access import allow_model, key_group
from engine.errors import GatewayError
from engine.metering import worst_case_of
from engine.policy.compiled import CompiledPolicy, GroupSpec
from engine.policy_tests.load import Case
from engine.policy_tests.request import case_facts, case_health, case_key, case_now
from engine.policy_tests.schema import CaseRaw, ExpectRaw
from engine.routing.facts import RequestFacts
from engine.routing.plan import Plan, plan
from engine.state.money import usd_to_micros
from engine.state.spend_rules import TOTAL, Caps, check_caps, day_period, insufficient_balance, month_period
from providers.base import ClientCodec


@dataclass(frozen=True, slots=True)
class Got:
    """What the gateway would do: a route, or a refusal."""

    status: int  # 200 when routed
    code: str | None = None  # the error's code, else its kind (no_route)
    message: str | None = None
    rule: str | None = None
    attempts: tuple[str, ...] = ()  # model@channel, in order
    cost_usd: float | None = None  # the first attempt's estimate

    def describe(self) -> str:
        if self.status != 200:
            return f"refused {self.status} {self.code}: {self.message}"
        return f"routed: rule {self.rule or 'none'}, attempts {', '.join(self.attempts)}"


@dataclass(frozen=True, slots=True)
class Mismatch:
    what: str  # the expectation's key
    expected: str
    got: str


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    got: Got
    mismatches: tuple[Mismatch, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def run_case(case: Case, policy: CompiledPolicy, codec: ClientCodec) -> Result:
    got = outcome(case.raw, policy, codec)
    return Result(case, got, tuple(compare(case.raw.expect, got)))


def outcome(case: CaseRaw, policy: CompiledPolicy, codec: ClientCodec) -> Got:
    try:
        group = key_group(policy, case.key.group)
        allow_model(group, case.key.name, tuple(case.key.models), case.model)
        facts = case_facts(case, codec, policy)
        route = plan(facts, policy, case_health(case, policy), case_key(case), case_now(case), random.Random(0))
        _reserve(case, policy, group, facts, route)
    except GatewayError as err:
        return Got(err.status, err.code or err.kind, err.message)
    first = route.attempts[0]
    return Got(
        200,
        rule=route.rule,
        attempts=tuple(_where(a.target.model, a.target.channel) for a in route.attempts),
        cost_usd=first.estimated_cost_usd,
    )


def _reserve(case: CaseRaw, policy: CompiledPolicy, group: GroupSpec, facts: RequestFacts, route: Plan) -> None:
    """402 when the request's worst case would cross a cap or the balance (``Gate.reserve``)."""
    worst = worst_case_of(
        facts.estimated_tokens,
        facts.max_tokens or policy.default_max_tokens,
        (policy.models[a.target.model].price for a in route.attempts),
        group.price_multiplier,
    )
    amount = usd_to_micros(max(worst, 0.0), round_up=True)
    key, now = case.key, case_now(case)
    caps = Caps(
        quota_micros=_micros(key.quota_usd),
        day_micros=_micros(group.budget_day_usd),
        month_micros=_micros(group.budget_month_usd),
    )
    spent = {TOTAL: key.spent_usd, day_period(now): key.spent_today_usd, month_period(now): key.spent_month_usd}
    check_caps(lambda period: usd_to_micros(spent[period]), caps, amount, now)
    if key.balance_usd is not None and usd_to_micros(key.balance_usd) < amount:
        raise insufficient_balance(amount, usd_to_micros(key.balance_usd))


def _micros(usd: float | None) -> int | None:
    return None if usd is None else usd_to_micros(usd)


def _where(model: str, channel: str) -> str:
    return f"{model}@{channel}"


def compare(expect: ExpectRaw, got: Got) -> list[Mismatch]:
    """Every expectation the outcome does not meet."""
    out: list[Mismatch] = []
    if expect.refused is not None:
        if got.status != expect.refused:
            out.append(Mismatch("refused", str(expect.refused), got.describe()))
        elif expect.code is not None and got.code != expect.code:
            out.append(Mismatch("code", expect.code, str(got.code)))
        if got.status == expect.refused and expect.message is not None and expect.message not in (got.message or ""):
            out.append(Mismatch("message", f"a message containing {expect.message!r}", repr(got.message)))
        return out
    if got.status != 200:
        return [Mismatch("route", "a route", got.describe())]
    if expect.rule is not None:
        wanted = None if expect.rule == "none" else str(expect.rule)
        if got.rule != wanted:
            out.append(Mismatch("rule", str(expect.rule), got.rule or "none"))
    if expect.first is not None and not _same(expect.first, got.attempts[0]):
        out.append(Mismatch("first", expect.first, got.attempts[0]))
    if expect.attempts is not None and (
        len(expect.attempts) != len(got.attempts)
        or not all(_same(e, g) for e, g in zip(expect.attempts, got.attempts, strict=True))
    ):
        out.append(Mismatch("attempts", ", ".join(expect.attempts), ", ".join(got.attempts)))
    if expect.cost_usd is not None:
        low, high = expect.cost_usd.min, expect.cost_usd.max
        wanted_cost = f"${low:g} to ${high:g}" if high is not None else f"at least ${low:g}"
        cost = got.cost_usd
        if cost is None:
            out.append(Mismatch("cost_usd", wanted_cost, f"unpriced ({got.attempts[0]})"))
        elif cost < low or (high is not None and cost > high):
            out.append(Mismatch("cost_usd", wanted_cost, f"${cost:.6f} ({got.attempts[0]})"))
    return out


def _same(expected: str, got: str) -> bool:
    """``model@channel`` matches exactly; a bare ``model`` matches it on any channel."""
    return expected == got if "@" in expected else expected == got.partition("@")[0]
