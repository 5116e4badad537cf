"""A policy and a week of usage rows for the drift tests, as the gateway would write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.access import UsageRecord
from engine.drift.rows import UsageRow, cost_facts
from engine.drift.tally import Tally
from engine.policy.compiled import CompiledPolicy
from engine.replay.load import load
from engine.replay.recorded import RoutingRecord, routing_json
from engine.routing.facts import RequestFacts
from engine.routing.plan import KeyFacts, Target
from engine.state.money import usd_to_micros
from tests.support.policy_files import write_policy

AT = datetime(2026, 6, 8, 12, 0, tzinfo=UTC)  # the end of the window; rows are before it
SINCE = AT - timedelta(days=7)

# "auto": research keys to big (rule 1), images to big (rule 2, never matched), else cheap,
# "inner" as fallback (an alias reached only through auto); "unused" is never asked for.
# Channel "spare" fails nearly always; "quiet" and model "solo" see no traffic.
POLICY = """
[channels.main]
format = "openai"
base_url = "https://api.example.test/v1"
api_key = "${DRIFT_TEST_KEY}"
models = ["cheap", "big"]

[channels.spare]
format = "openai"
base_url = "https://spare.example.test/v1"
api_key = "${DRIFT_TEST_KEY}"
models = ["cheap"]

[channels.quiet]
format = "openai"
base_url = "https://quiet.example.test/v1"
api_key = "${DRIFT_TEST_KEY}"
models = ["solo"]

[models.cheap]
price = { input = 0.1, output = 0.2 }

[models.big]
price = { input = 1.0, output = 2.0 }

[models.solo]

[aliases.auto]
rules = [
  { when = "key.group == 'research'", use = ["big"] },
  { when = "request.has_images", use = ["big"] },
]
candidates = ["cheap"]
fallback = ["inner"]

[aliases.inner]
candidates = ["big"]

[aliases.unused]
candidates = ["cheap"]

[groups.default]
models = ["*"]

[groups.research]
models = ["*"]
price_multiplier = 2.0
"""


def policy(tmp_path: Path) -> CompiledPolicy:
    write_policy(tmp_path / "policies", POLICY)
    return load(tmp_path / "policies", False, "policies")


def _routing(at: datetime, group: str, max_tokens: int | None) -> RoutingRecord:
    facts = RequestFacts("auto", 1000, max_tokens, False, False, False, False, 2, "")
    return RoutingRecord(facts, KeyFacts("ci", group, ()), True, at, Target("cheap", "main", "cheap"))


def _request(
    request_id: str, at: datetime, alias_rule: str, served: str, cost_usd: float, *,
    group: str = "default", max_tokens: int | None = None, completion: int = 100, version: str = "",
    byok: bool = False, facts: bool = True,
) -> UsageRecord:  # fmt: skip
    return UsageRecord(
        request_id, None, at, "acct", "k1", "/v1/chat/completions", "auto", alias_rule, served, "main", 200, None,
        10.0, 2.0, 900, completion, 0, 0, cost_usd, version, byok, False, 0.0,
        _routing(at, group, max_tokens) if facts else None,
    )  # fmt: skip


def _attempt(request_id: str, number: int, at: datetime, model: str, channel: str, failure: str | None) -> UsageRecord:
    return UsageRecord(
        request_id, number, at, "acct", "k1", "/v1/chat/completions", "auto", None, model, channel,
        429 if failure else 200, failure, 5.0, None, 0, 0, 0, 0, 0.0, "", False,
    )  # fmt: skip


def week(version: str) -> list[UsageRecord]:
    """The traffic ``POLICY`` (version ``version``) saw: 27 requests in the window, one before.

    - 4 research requests on big (rule 1), cap 500: estimate (1000 x $1 + 500 x $2) x 2 = $0.004
      each, charged $0.0036 (-10%, within the tolerance);
    - 20 on cheap (no rule matched), no cap so 4096 assumed: estimate 1000 x $0.1 + 4096 x $0.2
      = $0.0009192, charged $0.0002 (-78%): flagged. Each tried spare first, 19 of them failed
      there (429) and one hedge lost: spare has 20 attempts, all failed; main's 24 all ok;
    - 3 days before the end: a BYOK request, a request without facts, one served by a model
      since removed; 2 of the 20 cheap requests ran on an older policy version.
    """
    rows: list[UsageRecord] = []
    start = AT - timedelta(days=6)
    for i in range(4):
        at = start + timedelta(hours=i)
        rows.append(_request(f"big{i}", at, "auto#1", "big", 0.0036, group="research", max_tokens=500, version=version))
        rows.append(_attempt(f"big{i}", 1, at, "big", "main", None))
    for i in range(20):
        at = start + timedelta(days=1, hours=i)
        old = "0123456789abcdef" if i < 2 else version
        rows.append(_request(f"cheap{i}", at, "auto#candidates", "cheap", 0.0002, version=old))
        rows.append(_attempt(f"cheap{i}", 1, at, "cheap", "spare", "hedge_lost" if i == 0 else "429"))
        rows.append(_attempt(f"cheap{i}", 2, at, "cheap", "main", None))
    later = start + timedelta(days=3)
    rows.append(_request("byok", later, "auto#candidates", "cheap", 0.00001, byok=True, version=version))
    rows.append(_request("old-row", later, "auto#candidates", "cheap", 0.0002, facts=False, version=version))
    rows.append(_request("removed", later, "auto#candidates", "retired", 0.001, version=version))
    rows.append(_request("too-old", SINCE - timedelta(hours=1), "auto#2", "big", 1.0, version=version))
    return rows


def as_row(record: UsageRecord) -> UsageRow:
    """The row as the usage log stores it and ``engine.drift.read_db`` reads it back."""
    routing = routing_json(record.routing) if record.routing is not None else None
    return UsageRow(
        record.attempt, record.model_requested, record.alias_rule, record.model_served, record.channel,
        record.error_type, record.prompt_tokens, record.completion_tokens, usd_to_micros(record.cost_usd),
        record.policy_version, record.byok, cost_facts(routing) if record.attempt is None else None,
    )  # fmt: skip


def tally_of(policy: CompiledPolicy, records: list[UsageRecord]) -> Tally:
    tally = Tally(policy)
    for record in records:
        if SINCE <= record.at < AT:
            tally.add(as_row(record))
    return tally
