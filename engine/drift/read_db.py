"""The usage-log rows of a window, streamed as ``UsageRow`` (request and attempt rows alike).

Only the named columns are selected, so columns added to ``usage_log`` later change nothing here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.drift.rows import UsageRow, cost_facts
from engine.state.schema import usage_log

_COLUMNS = (
    usage_log.c.attempt,
    usage_log.c.model_requested,
    usage_log.c.alias_rule,
    usage_log.c.model_served,
    usage_log.c.channel,
    usage_log.c.error_type,
    usage_log.c.prompt_tokens,
    usage_log.c.completion_tokens,
    usage_log.c.cost_micros,
    usage_log.c.policy_version,
    usage_log.c.byok,
    usage_log.c.routing,
)


async def rows_between(engine: AsyncEngine, since: datetime, until: datetime) -> AsyncIterator[UsageRow]:
    """Every row with ``since <= at < until``, oldest first."""
    query = (
        sa.select(*_COLUMNS)
        .where(usage_log.c.at >= since, usage_log.c.at < until)
        .order_by(usage_log.c.at, usage_log.c.id)
    )
    async with engine.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=5000))
        async for row in result:
            (attempt, requested, alias_rule, served, channel, error_type, prompt, completion, cost, version, byok,
             routing) = row  # fmt: skip
            yield UsageRow(
                attempt, requested, alias_rule, served, channel, error_type, int(prompt), int(completion),
                int(cost), version, bool(byok), cost_facts(routing) if attempt is None else None,
            )  # fmt: skip
