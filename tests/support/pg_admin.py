"""One SQL statement on the test PostgreSQL server outside a transaction (CREATE/DROP
DATABASE or SCHEMA), for tests and benchmarks that isolate themselves there."""

from __future__ import annotations

from engine.state.db import create_engine


async def run_admin_sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()
