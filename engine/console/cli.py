"""``turnout accounts create-admin|invite|list``: console accounts from the command line (the
first admin comes from here). Parsers only; ``engine.console.commands`` runs them."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from engine.state.cli import StateConfig, bind_command


def _bind(parser: argparse.ArgumentParser, name: str, load_config: Callable[[], StateConfig]) -> None:
    bind_command(parser, "engine.console.commands", name, load_config)


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], load_config: Callable[[], StateConfig]
) -> None:
    accounts = subparsers.add_parser("accounts", help="console accounts").add_subparsers(
        dest="accounts_command", required=True
    )
    admin = accounts.add_parser("create-admin", help="create an admin account (or make an existing one admin)")
    admin.add_argument("email")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input (else it is asked)"
    )
    _bind(admin, "create_admin", load_config)
    _bind(
        accounts.add_parser("invite", help="print a new invitation code (registration mode 'invite')"),
        "invite",
        load_config,
    )
    _bind(accounts.add_parser("list", help="list console accounts and balances"), "list_accounts", load_config)
