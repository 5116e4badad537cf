"""``turnout canary status|reset``: the canary as the shared store sees it, from the command
line. Parsers only; ``engine.canary.commands`` runs them (imported when one does)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from engine.state.cli import StateConfig, bind_command


def _bind(parser: argparse.ArgumentParser, name: str, load_config: Callable[[], StateConfig]) -> None:
    bind_command(parser, "engine.canary.commands", name, load_config)


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], load_config: Callable[[], StateConfig]
) -> None:
    canary = subparsers.add_parser("canary", help="the canary: its live statistics, its rollback").add_subparsers(
        dest="canary_command", required=True
    )
    status = canary.add_parser("status", help="the canary's state and both sides' statistics, from the usage log")
    status.add_argument("--policies", help="policy directory (default: the one turnout serve uses)")
    status.add_argument("--format", choices=["text", "json"], default="text")
    _bind(status, "status", load_config)
    reset = canary.add_parser("reset", help="forget a rollback: the canary serves again on every worker")
    reset.add_argument("version", nargs="?", help="the canary version (default: the current policy's)")
    reset.add_argument("--policies", help="policy directory (default: the one turnout serve uses)")
    _bind(reset, "reset", load_config)
