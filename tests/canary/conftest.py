"""Canary tests share the state tests' stores: the embedded SQLite and PostgreSQL + Redis."""

from tests.state.conftest import (  # noqa: F401  (fixtures)
    backend,
    pg_schema,
    postgres_backend,
    sqlite_backend,
    sqlite_template,
    state,
)
