"""Alembic environment and versioned migrations of the state schema (run via ``engine.state.migrate``)."""
