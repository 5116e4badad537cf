"""``turnout keys|credits|usage|db`` sub-commands.

``register(subparsers, load_config)`` adds the parsers; each leaf sets ``func(args) -> int``
(the exit status), so the main CLI runs ``args.func(args)``. ``load_config`` is called
only when a command runs and returns the settings as a ``StateConfig``. The commands live in
``engine.state.commands``, imported (with the database drivers) only when one runs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from engine.replay.cli import register_export
from engine.state.errors import StateError

if TYPE_CHECKING:
    from engine.policy.compiled import CompiledPolicy


@dataclass(frozen=True, slots=True)
class StateConfig:
    data_dir: str | Path = "./.turnout"
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    load_policy: Callable[[], CompiledPolicy] | None = None  # to check groups when creating keys
    byok_key: str | None = None  # TURNOUT_BYOK_KEY: seals callers' own provider keys
    byok_old_keys: str = ""


Command = Callable[[argparse.Namespace, StateConfig, TextIO], Coroutine[Any, Any, int]]


def bind_command(
    parser: argparse.ArgumentParser, module: str, name: str, load_config: Callable[[], StateConfig]
) -> None:
    """Run ``module.name`` (a ``Command``, imported only when it runs) for ``parser``; a state
    or value error is one line on stderr and exit status 1."""

    def run(args: argparse.Namespace) -> int:
        command: Command = getattr(importlib.import_module(module), name)
        try:
            return asyncio.run(command(args, load_config(), sys.stdout))
        except (StateError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    parser.set_defaults(func=run)


def _bind(parser: argparse.ArgumentParser, name: str, load_config: Callable[[], StateConfig]) -> None:
    """``name``: the command's function in ``engine.state.commands``."""
    bind_command(parser, "engine.state.commands", name, load_config)


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], load_config: Callable[[], StateConfig]
) -> None:
    keys = subparsers.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key; prints its secret once")
    create.add_argument("name")
    create.add_argument("--group", default="default")
    create.add_argument("--models", default="*", help="comma-separated globs narrowing the group's (default '*')")
    create.add_argument("--ip", default="", help="comma-separated IPs/CIDRs allowed to use the key")
    create.add_argument("--tags", default="")
    create.add_argument("--expires", help="e.g. 30d, 12h or 2025-12-31")
    create.add_argument("--quota", help="lifetime spend cap in USD")
    create.add_argument("--account", help="bill this account (created when missing) instead of the key's own")
    create.add_argument("--prepaid", action="store_true", help="a new account must hold credit to be used")
    create.add_argument("--json", action="store_true")
    _bind(create, "keys_create", load_config)
    listing = keys.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true")
    _bind(listing, "keys_list", load_config)
    for name, command, text in (
        ("disable", "keys_disable", "stop a key working (on every replica within 1 s)"),
        ("enable", "keys_enable", "let a disabled key work again"),
        ("rotate", "keys_rotate", "give a key a new secret; the old one stops working"),
        ("delete", "keys_delete", "delete a key (its usage history stays)"),
    ):
        sub = keys.add_parser(name, help=text)
        sub.add_argument("key", help="key id or name")
        _bind(sub, command, load_config)

    byok = keys.add_parser("byok", help="a key's own provider keys (BYOK)").add_subparsers(
        dest="byok_command", required=True
    )
    put = byok.add_parser("set", help="store the key's own provider key for a channel (read from stdin)")
    put.add_argument("key", help="key id or name")
    put.add_argument("channel", help="a channel with byok = true")
    _bind(put, "byok_set", load_config)
    shown = byok.add_parser("list", help="the channels a key has its own provider key for (never the keys)")
    shown.add_argument("key", help="key id or name")
    _bind(shown, "byok_list", load_config)
    drop = byok.add_parser("delete", help="forget the key's own provider key for a channel")
    drop.add_argument("key", help="key id or name")
    drop.add_argument("channel")
    _bind(drop, "byok_delete", load_config)
    _bind(
        byok.add_parser("rotate", help="reseal every BYOK secret with the current TURNOUT_BYOK_KEY"),
        "byok_rotate",
        load_config,
    )

    credits = subparsers.add_parser("credits", help="account balances").add_subparsers(
        dest="credits_command", required=True
    )
    add = credits.add_parser("add", help="add credit to an account")
    add.add_argument("account")
    add.add_argument("amount", help="USD, e.g. 25 or 12.50")
    add.add_argument("--note")
    add.add_argument("--prepaid", action="store_true", help="also make the account prepaid")
    _bind(add, "credits_add", load_config)
    show = credits.add_parser("show", help="an account's balance")
    show.add_argument("account")
    _bind(show, "credits_show", load_config)
    fix = credits.add_parser("reconcile", help="rebuild a balance from the ledger (gateway stopped)")
    fix.add_argument("account")
    _bind(fix, "credits_reconcile", load_config)

    usage = subparsers.add_parser("usage", help="usage per day, account, key and model")
    usage.add_argument("--since", default="30d", help="duration ago (7d) or date (default 30d)")
    usage.add_argument("--until", help="last day to include")
    usage.add_argument("--account")
    usage.add_argument("--key", help="key id or name")
    usage.add_argument("--json", action="store_true")
    _bind(usage, "usage", load_config)
    usage_sub = usage.add_subparsers(dest="usage_command")
    prune = usage_sub.add_parser("prune", help="roll old rows into daily totals and delete them")
    prune.add_argument("--before", required=True, help="date (2025-01-01) or duration ago (90d)")
    _bind(prune, "usage_prune", load_config)
    register_export(usage_sub, load_config)  # turnout usage export (engine.replay)

    db = subparsers.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    _bind(db.add_parser("upgrade", help="create or migrate the schema to this version"), "db_upgrade", load_config)
    _bind(db.add_parser("status", help="show whether the schema is current"), "db_status", load_config)
