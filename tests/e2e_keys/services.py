"""The shared services of the replica tests: a fresh PostgreSQL database per module
(created in the local server, dropped afterwards) and Redis (the gateway's rate-limit keys
of the module's API keys are deleted afterwards). Both must be running: tests fail, not
skip, without them."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from redis.asyncio import Redis

from tests.support.pg_admin import run_admin_sql

PG_URL = os.environ.get("TURNOUT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TURNOUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = "turnout:"  # the gateway's own key prefix (not configurable)


async def _admin_sql(statement: str) -> None:
    await run_admin_sql(PG_URL, statement)


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database on the test PostgreSQL server; dropped on exit."""
    name = f"turnout_e2e_keys_{secrets.token_hex(4)}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _delete_rate_limits(key_ids: list[str]) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        for key_id in key_ids:
            found = [k async for k in redis.scan_iter(match=f"{REDIS_PREFIX}rl:{{{key_id}}}:*", count=100)]
            if found:
                await redis.delete(*found)
    finally:
        await redis.aclose()


def delete_rate_limits(key_ids: Iterable[str]) -> None:
    """Remove the Redis rate-limit buckets of these API keys."""
    asyncio.run(_delete_rate_limits(list(key_ids)))
