"""The state store fixtures of ``tests/state`` (SQLite and PostgreSQL + Redis), for the account API tests."""

from tests.state.conftest import (  # noqa: F401  (fixtures, found by name)
    backend,
    pg_schema,
    postgres_backend,
    sqlite_backend,
    sqlite_template,
    state,
)
