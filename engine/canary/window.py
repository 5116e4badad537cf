"""Both sides' recent requests, read from the shared usage log (every worker and replica
writes there, so every one reads the same numbers).

A side is at most the latest ``LIMIT`` request rows of the window: the canary's are the rows
sent to its version (``canary_version``), the stable's those its version served with no
canary involved. Fallbacks count the side's second attempts in the same span.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.canary.stats import Served, SideStats, side_stats
from engine.state.schema import usage_log

LIMIT = 5_000  # request rows per side at most: the statistics of a busy window stay cheap


async def window_stats(engine: AsyncEngine, canary: str, stable: str, since: datetime) -> tuple[SideStats, SideStats]:
    c = usage_log.c
    on_canary = c.canary_version == canary
    on_stable = sa.and_(c.policy_version == stable, c.canary_version.is_(None))
    async with engine.connect() as conn:
        sides = []
        for side, rescued in ((on_canary, c.policy_version != canary), (on_stable, sa.false())):
            rows = (
                await conn.execute(
                    sa.select(c.status, rescued, c.latency_ms, c.cost_micros, c.at)
                    .where(side, c.attempt.is_(None), c.at >= since)
                    .order_by(c.at.desc())
                    .limit(LIMIT)
                )
            ).all()
            served = [Served(int(r[0]), bool(r[1]), float(r[2]), int(r[3]) / 1_000_000) for r in rows]
            oldest = rows[-1][4] if rows else since
            fallbacks = (
                await conn.execute(sa.select(sa.func.count()).where(side, c.attempt == 2, c.at >= oldest))
            ).scalar_one()
            sides.append(side_stats(served, int(fallbacks)))
    return sides[0], sides[1]
