"""Errors of the state store's management operations (keys, accounts, schema, settings).

These are for operators (CLI and admin API), not API clients: request-path outcomes are
``engine.errors.GatewayError`` subclasses raised by ``engine.state.gate``.
"""

from __future__ import annotations


class StateError(Exception):
    """Base of the management errors; ``str()`` is a message for the operator."""


class NotFound(StateError):
    pass


class Conflict(StateError):
    pass


class InvalidInput(StateError):
    pass


class StateConfigError(StateError):
    """The state store cannot start with these settings (schema not current, missing Redis...)."""
