"""Schema migrations: upgrade a database to the newest revision and check it is current.

The Alembic configuration is built in code (no ``alembic.ini``) so it works from an
installed package. ``turnout db upgrade`` calls ``upgrade``; ``open_state`` calls
``schema_status`` and refuses to start on an out-of-date shared database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.state.db import create_engine

_SCRIPT_LOCATION = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads; expected exactly one")
    return heads[0]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    state: Literal["current", "empty", "behind", "unknown"]
    current: str | None
    head: str

    def explain(self) -> str:
        if self.state == "current":
            return f"the database schema is current (revision {self.head})"
        if self.state == "empty":
            return "the database has no turnout schema yet: run 'turnout db upgrade'"
        if self.state == "behind":
            return (
                f"the database schema is at revision {self.current}, this turnout needs {self.head}: "
                "run 'turnout db upgrade'"
            )
        return (
            f"the database schema is at revision {self.current}, which this turnout does not know "
            f"(newest it knows: {self.head}); it was migrated by a newer turnout"
        )


@asynccontextmanager
async def _engine(target: str | AsyncEngine) -> AsyncIterator[AsyncEngine]:
    if isinstance(target, AsyncEngine):
        yield target
        return
    engine = create_engine(target)
    try:
        yield engine
    finally:
        await engine.dispose()


def _upgrade_sync(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current_sync(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def upgrade(target: str | AsyncEngine, revision: str = "head") -> None:
    """Migrate ``target`` (a URL or an engine) to ``revision``; creates the tables on an empty database."""
    async with _engine(target) as engine, engine.begin() as conn:
        await conn.run_sync(_upgrade_sync, revision)


async def schema_status(target: str | AsyncEngine) -> SchemaStatus:
    head = head_revision()
    async with _engine(target) as engine, engine.connect() as conn:
        heads = await conn.run_sync(_current_sync)
    if not heads:
        return SchemaStatus("empty", None, head)
    current = heads[0]
    if len(heads) == 1 and current == head:
        return SchemaStatus("current", current, head)
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    return SchemaStatus("behind" if current in known else "unknown", current, head)


async def check_current(target: str | AsyncEngine) -> bool:
    """True when the database is at the newest revision this code knows."""
    return (await schema_status(target)).state == "current"
