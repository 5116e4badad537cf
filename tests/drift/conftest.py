"""The state-store fixtures (SQLite and PostgreSQL), shared with tests/state."""

from tests.state.conftest import (  # noqa: F401  (fixtures, found by name)
    backend,
    pg_schema,
    postgres_backend,
    sqlite_backend,
    sqlite_template,
)
