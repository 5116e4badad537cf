"""The usage log: one row per request and per attempt, written in batches off the request path.

``record`` only queues (see ``engine.state.batcher``): rows are written every
``flush_interval`` seconds (0.5 by default) or every 500 rows, and ``close`` writes the
rest, so a graceful stop loses nothing and a crash loses at most one flush interval.
Rows carry the fields of ``engine.access.UsageRecord`` (never prompts or outputs), with
``cost_usd`` stored as integer ``cost_micros`` and the UTC ``day`` added for rollups.

``prune(before)`` folds old rows into ``usage_daily`` (one row per UTC day, account, key
and model, counting request rows; attempt rows are detail and are dropped) and deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.access import UsageRecord
from engine.state.batcher import Batcher
from engine.state.db import upsert_adding
from engine.state.money import usd_to_micros
from engine.state.schema import usage_daily, usage_log

ROLLUP_SUMS = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cost_micros")
ROLLUP_COUNTS = ("requests", "errors", *ROLLUP_SUMS)


def usage_row(record: UsageRecord) -> dict[str, Any]:
    at = record.at if record.at.tzinfo is not None else record.at.replace(tzinfo=UTC)
    return {
        "request_id": record.request_id,
        "attempt": record.attempt,
        "at": at,
        "day": at.astimezone(UTC).date(),
        "account_id": record.account_id,
        "key_id": record.key_id,
        "endpoint": record.endpoint,
        "model_requested": record.model_requested,
        "alias_rule": record.alias_rule,
        "model_served": record.model_served,
        "channel": record.channel,
        "status": record.status,
        "error_type": record.error_type,
        "latency_ms": record.latency_ms,
        "ttfb_ms": record.ttfb_ms,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cached_tokens": record.cached_tokens,
        "reasoning_tokens": record.reasoning_tokens,
        "cost_micros": usd_to_micros(record.cost_usd),
        "policy_version": record.policy_version,
        "byok": record.byok,
    }


def rollup_columns() -> list[sa.ColumnElement[Any]]:
    """Group-by columns then sums, over request rows of ``usage_log`` (shared with reports)."""
    return [
        usage_log.c.day,
        sa.func.coalesce(usage_log.c.account_id, "").label("account_id"),
        sa.func.coalesce(usage_log.c.key_id, "").label("key_id"),
        sa.func.coalesce(usage_log.c.model_served, usage_log.c.model_requested).label("model"),
        sa.func.count().label("requests"),
        sa.func.sum(sa.case((usage_log.c.status >= 400, 1), else_=0)).label("errors"),
        *(sa.func.sum(usage_log.c[name]).label(name) for name in ROLLUP_SUMS),
    ]


@dataclass(frozen=True, slots=True)
class PruneResult:
    deleted_rows: int
    rollup_rows: int


class UsageLog:
    def __init__(self, engine: AsyncEngine, *, flush_interval: float = 0.5, max_batch: int = 500) -> None:
        self._engine = engine
        self._writer: Batcher[dict[str, Any]] = Batcher(
            self._write, name="usage", interval=flush_interval, max_items=max_batch
        )

    def start(self) -> None:
        self._writer.start()

    def record(self, rows: list[UsageRecord]) -> None:
        """Queue rows; never blocks and never does I/O."""
        self._writer.extend(usage_row(r) for r in rows)

    @property
    def pending(self) -> int:
        return self._writer.pending

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(sa.insert(usage_log), rows)

    async def flush(self) -> None:
        await self._writer.flush()

    async def close(self) -> None:
        await self._writer.close()

    async def prune(self, before: datetime) -> PruneResult:
        """Roll rows older than ``before`` up into ``usage_daily``, then delete them."""
        await self.flush()
        columns = rollup_columns()
        group = columns[:4]
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(*columns)
                    .where(usage_log.c.at < before, usage_log.c.attempt.is_(None))
                    .group_by(*group)
                )
            ).mappings().all()
            rollups = [{**row, **{name: int(row[name] or 0) for name in ROLLUP_COUNTS}} for row in rows]
            for start in range(0, len(rollups), 500):
                await conn.execute(
                    upsert_adding(
                        conn.dialect.name,
                        usage_daily,
                        rollups[start : start + 500],
                        ["day", "account_id", "key_id", "model"],
                        ROLLUP_COUNTS,
                    )
                )
            deleted = await conn.execute(sa.delete(usage_log).where(usage_log.c.at < before))
        return PruneResult(deleted.rowcount, len(rollups))
