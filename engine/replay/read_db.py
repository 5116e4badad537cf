"""Recorded requests from the usage log: request rows since a time, with their routing facts.

Rows without facts (written before revision 0004, or attempt rows) are counted, not read.
A row whose facts cannot be parsed is counted as skipped too, never guessed at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.replay.recorded import RecordedRequest, RecordError, from_dict
from engine.state.cli import StateConfig
from engine.state.db import check_reachable, create_engine, database_label, default_database_url
from engine.state.migrate import schema_status
from engine.state.schema import usage_log


class UsageLogError(Exception):
    """The usage log cannot be read (absent, or its schema is not current); one line."""


@asynccontextmanager
async def usage_log_engine(config: StateConfig, hint: str = "") -> AsyncIterator[AsyncEngine]:
    """The configured database, reachable and migrated, for reading the usage log (never
    created: an absent embedded database is a ``UsageLogError``, ``hint`` appended)."""
    url = config.database_url or default_database_url(config.data_dir)
    if config.database_url is None and not (Path(config.data_dir).expanduser() / "turnout.db").exists():
        raise UsageLogError(f"no usage log: {database_label(url, configured=False)} does not exist{hint}")
    engine = create_engine(url)
    try:
        await check_reachable(engine, database_label(url, configured=config.database_url is not None))
        status = await schema_status(engine)
        if status.state != "current":
            raise UsageLogError(status.explain())
        yield engine
    finally:
        await engine.dispose()


_COLUMNS = (
    usage_log.c.request_id,
    usage_log.c.model_served,
    usage_log.c.channel,
    usage_log.c.status,
    usage_log.c.prompt_tokens,
    usage_log.c.completion_tokens,
    usage_log.c.cached_tokens,
    usage_log.c.reasoning_tokens,
    usage_log.c.cost_micros,
    usage_log.c.routing,
)


class Loaded(NamedTuple):
    requests: list[RecordedRequest]
    without_facts: int  # request rows in the window that carry no (readable) routing facts


async def recorded_since(engine: AsyncEngine, since: datetime, until: datetime | None = None) -> Loaded:
    window = [usage_log.c.attempt.is_(None), usage_log.c.at >= since]
    if until is not None:
        window.append(usage_log.c.at < until)
    query = sa.select(*_COLUMNS).where(*window).order_by(usage_log.c.at, usage_log.c.id)
    requests: list[RecordedRequest] = []
    missing = 0
    async with engine.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=5000))
        async for row in result:
            (request_id, served_model, served_channel, status, prompt, completion, cached, reasoning, cost,
             routing) = row  # fmt: skip
            if routing is None:
                missing += 1
                continue
            try:
                data = orjson.loads(routing)
                data.update(
                    request_id=request_id, served_model=served_model, served_channel=served_channel,
                    status=status, prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
                    reasoning_tokens=reasoning, cost_micros=cost,
                )  # fmt: skip
                requests.append(from_dict(data))
            except (orjson.JSONDecodeError, RecordError, AttributeError):
                missing += 1
    return Loaded(requests, missing)
