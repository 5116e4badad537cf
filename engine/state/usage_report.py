"""Usage reports: per-day rollups merged from ``usage_daily`` (pruned) and the live usage log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.state.money import micros_to_usd
from engine.state.schema import usage_daily, usage_log
from engine.state.usage_log import ROLLUP_COUNTS, rollup_columns


@dataclass(slots=True)
class UsageRollup:
    day: date
    account_id: str  # "" when the request had no account
    key_id: str
    model: str
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_micros: int = 0
    estimated: int = 0  # requests whose tokens Turnout counted (the upstream reported no usage)
    overrun_micros: int = 0  # cost prepaid balances could not cover (not charged; owed as arrears)

    def add(self, row: sa.RowMapping) -> None:
        for name in ROLLUP_COUNTS:
            setattr(self, name, getattr(self, name) + int(row[name] or 0))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["cost_usd"] = micros_to_usd(self.cost_micros)
        data["overrun_usd"] = micros_to_usd(self.overrun_micros)
        return data


@dataclass(frozen=True, slots=True)
class UsageQuery:
    since: date | None = None  # inclusive UTC days
    until: date | None = None
    account_id: str | None = None
    key_id: str | None = None


def _filters(query: UsageQuery, day: sa.Column[Any], account: Any, key: Any) -> list[sa.ColumnElement[bool]]:
    filters: list[sa.ColumnElement[bool]] = []
    if query.since is not None:
        filters.append(day >= query.since)
    if query.until is not None:
        filters.append(day <= query.until)
    if query.account_id is not None:
        filters.append(account == query.account_id)
    if query.key_id is not None:
        filters.append(key == query.key_id)
    return filters


async def usage_rollups(engine: AsyncEngine, query: UsageQuery) -> list[UsageRollup]:
    """Rollups by (day, account, key, model), oldest day first."""
    live_columns = rollup_columns()
    live = (
        sa.select(*live_columns)
        .where(
            usage_log.c.attempt.is_(None),
            *_filters(query, usage_log.c.day, usage_log.c.account_id, usage_log.c.key_id),
        )
        .group_by(*live_columns[:4])
    )
    archived = sa.select(usage_daily).where(
        *_filters(query, usage_daily.c.day, usage_daily.c.account_id, usage_daily.c.key_id)
    )
    merged: dict[tuple[date, str, str, str], UsageRollup] = {}
    async with engine.connect() as conn:
        for statement in (archived, live):
            rows: Sequence[sa.RowMapping] = (await conn.execute(statement)).mappings().all()
            for row in rows:
                ident = (row["day"], str(row["account_id"]), str(row["key_id"]), str(row["model"]))
                merged.setdefault(ident, UsageRollup(*ident)).add(row)
    return [merged[k] for k in sorted(merged)]
