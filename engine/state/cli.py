"""``turnout keys|credits|usage|db`` sub-commands.

``register(subparsers, load_config)`` adds the parsers; each leaf sets ``func(args) -> int``
(the exit status), so the main CLI runs ``args.func(args)``. ``load_config`` is called
only when a command runs and returns the settings as a ``StateConfig``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from engine.policy.compiled import CompiledPolicy
from engine.state.db import create_engine, default_database_url
from engine.state.errors import StateError
from engine.state.keys import KeyRecord, NewKey
from engine.state.migrate import schema_status, upgrade
from engine.state.money import format_usd, parse_usd
from engine.state.records_json import balance_json, key_json
from engine.state.state import State, open_state
from engine.state.timeparse import parse_future, parse_instant, parse_past
from engine.state.usage_report import UsageQuery, usage_rollups


@dataclass(frozen=True, slots=True)
class StateConfig:
    data_dir: str | Path = "./.turnout"
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    load_policy: Callable[[], CompiledPolicy] | None = None  # to check groups when creating keys


Command = Callable[[argparse.Namespace, StateConfig, TextIO], Coroutine[Any, Any, int]]


def _bind(parser: argparse.ArgumentParser, command: Command, load_config: Callable[[], StateConfig]) -> None:
    def run(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(command(args, load_config(), sys.stdout))
        except (StateError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    parser.set_defaults(func=run)


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
    _bind(create, _keys_create, load_config)
    listing = keys.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true")
    _bind(listing, _keys_list, load_config)
    for name, command, text in (
        ("disable", _keys_disable, "stop a key working (on every replica within 1 s)"),
        ("enable", _keys_enable, "let a disabled key work again"),
        ("rotate", _keys_rotate, "give a key a new secret; the old one stops working"),
        ("delete", _keys_delete, "delete a key (its usage history stays)"),
    ):
        sub = keys.add_parser(name, help=text)
        sub.add_argument("key", help="key id or name")
        _bind(sub, command, load_config)

    credits = subparsers.add_parser("credits", help="account balances").add_subparsers(
        dest="credits_command", required=True
    )
    add = credits.add_parser("add", help="add credit to an account")
    add.add_argument("account")
    add.add_argument("amount", help="USD, e.g. 25 or 12.50")
    add.add_argument("--note")
    add.add_argument("--prepaid", action="store_true", help="also make the account prepaid")
    _bind(add, _credits_add, load_config)
    show = credits.add_parser("show", help="an account's balance")
    show.add_argument("account")
    _bind(show, _credits_show, load_config)
    fix = credits.add_parser("reconcile", help="rebuild a balance from the ledger (gateway stopped)")
    fix.add_argument("account")
    _bind(fix, _credits_reconcile, load_config)

    usage = subparsers.add_parser("usage", help="usage per day, account, key and model")
    usage.add_argument("--since", default="30d", help="duration ago (7d) or date (default 30d)")
    usage.add_argument("--until", help="last day to include")
    usage.add_argument("--account")
    usage.add_argument("--key", help="key id or name")
    usage.add_argument("--json", action="store_true")
    _bind(usage, _usage, load_config)
    usage_sub = usage.add_subparsers(dest="usage_command")
    prune = usage_sub.add_parser("prune", help="roll old rows into daily totals and delete them")
    prune.add_argument("--before", required=True, help="date (2025-01-01) or duration ago (90d)")
    _bind(prune, _usage_prune, load_config)

    db = subparsers.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    _bind(db.add_parser("upgrade", help="create or migrate the schema to this version"), _db_upgrade, load_config)
    _bind(db.add_parser("status", help="show whether the schema is current"), _db_status, load_config)


async def _open(config: StateConfig) -> State:
    return await open_state(
        data_dir=config.data_dir,
        database_url=config.database_url,
        redis_url=config.redis_url,
        secret_key=config.secret_key,
        workers=1,
    )


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _print_json(out: TextIO, data: Any) -> None:
    out.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        out.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() + "\n")


async def _keys_create(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    now = datetime.now(UTC)
    spec = NewKey(
        name=args.name,
        group=args.group,
        models=_csv(args.models) or ("*",),
        ip_allow=_csv(args.ip),
        tags=_csv(args.tags),
        expires_at=parse_future(args.expires, now) if args.expires else None,
        quota_micros=parse_usd(args.quota) if args.quota else None,
        account_id=args.account,
        prepaid=args.prepaid,
    )
    groups = frozenset(config.load_policy().groups) if config.load_policy is not None else None
    state = await _open(config)
    try:
        created = await state.keys.create(spec, known_groups=groups)
    finally:
        await state.close()
    if args.json:
        _print_json(out, {"key": key_json(created.key), "secret": created.secret})
        return 0
    key = created.key
    account = f"{key.account_id} (new)" if created.account_created else key.account_id
    out.write(f"created key '{key.name}' ({key.id}), group {key.group}, account {account}\n")
    out.write("secret (shown only now; store it safely):\n")
    out.write(created.secret + "\n")
    return 0


def _key_row(key: KeyRecord, now: datetime) -> list[str]:
    state = "enabled" if key.enabled else "disabled"
    if key.enabled and key.expired(now):
        state = "expired"
    return [
        key.name,
        key.id,
        f"sk-trn-{key.prefix}...",
        key.group,
        state,
        key.expires_at.date().isoformat() if key.expires_at else "-",
        format_usd(key.spend_micros),
        format_usd(key.quota_micros) if key.quota_micros is not None else "-",
        key.account_id,
    ]


async def _keys_list(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    state = await _open(config)
    try:
        keys = await state.keys.list()
    finally:
        await state.close()
    if args.json:
        _print_json(out, {"keys": [key_json(k) for k in keys]})
        return 0
    header = ["NAME", "ID", "PREFIX", "GROUP", "STATE", "EXPIRES", "SPEND", "QUOTA", "ACCOUNT"]
    now = datetime.now(UTC)
    _table(out, header, [_key_row(k, now) for k in keys])
    return 0


async def _keys_set(args: argparse.Namespace, config: StateConfig, out: TextIO, enabled: bool) -> int:
    state = await _open(config)
    try:
        key = await state.keys.set_enabled(args.key, enabled)
    finally:
        await state.close()
    out.write(f"key '{key.name}' {'enabled' if enabled else 'disabled'}\n")
    return 0


async def _keys_disable(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    return await _keys_set(args, config, out, False)


async def _keys_enable(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    return await _keys_set(args, config, out, True)


async def _keys_rotate(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    state = await _open(config)
    try:
        rotated = await state.keys.rotate(args.key)
    finally:
        await state.close()
    out.write(f"key '{rotated.key.name}' rotated; the old secret no longer works\n")
    out.write("new secret (shown only now; store it safely):\n")
    out.write(rotated.secret + "\n")
    return 0


async def _keys_delete(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    state = await _open(config)
    try:
        key = await state.keys.delete(args.key)
    finally:
        await state.close()
    out.write(f"key '{key.name}' deleted (account {key.account_id} and usage history kept)\n")
    return 0


async def _credits_add(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    amount = parse_usd(args.amount)
    if amount <= 0:
        raise ValueError("the amount must be positive")
    state = await _open(config)
    try:
        await state.accounts.get(args.account)
        if args.prepaid:
            await state.accounts.set_prepaid(args.account, True)
        await state.ledger.credit(args.account, amount, args.note)
        balance = await state.ledger.balance(args.account)
    finally:
        await state.close()
    out.write(f"added {format_usd(amount)} to {args.account}; balance {format_usd(balance.balance_micros)}\n")
    return 0


async def _credits_show(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    state = await _open(config)
    try:
        balance = await state.ledger.balance(args.account)
    finally:
        await state.close()
    _print_json(out, balance_json(balance))
    return 0


async def _credits_reconcile(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    state = await _open(config)
    try:
        old, new = await state.ledger.reconcile(args.account)
    finally:
        await state.close()
    out.write(f"{args.account}: cached balance {format_usd(old)} -> ledger sum {format_usd(new)}; holds cleared\n")
    return 0


async def _usage(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    now = datetime.now(UTC)
    state = await _open(config)
    try:
        key_id = (await state.keys.get(args.key)).id if args.key else None
        query = UsageQuery(
            since=parse_past(args.since, now).date() if args.since else None,
            until=parse_instant(args.until).date() if args.until else None,
            account_id=args.account,
            key_id=key_id,
        )
        rows = await usage_rollups(state.engine, query)
    finally:
        await state.close()
    if args.json:
        _print_json(out, {"usage": [r.to_json() for r in rows]})
        return 0
    header = ["DAY", "ACCOUNT", "KEY", "MODEL", "REQUESTS", "ERRORS", "PROMPT", "COMPLETION", "COST", "OVERRUN"]
    body = [
        [
            r.day.isoformat(),
            r.account_id or "-",
            r.key_id or "-",
            r.model,
            str(r.requests),
            str(r.errors),
            str(r.prompt_tokens),
            str(r.completion_tokens),
            format_usd(r.cost_micros),
            format_usd(r.overrun_micros),
        ]
        for r in rows
    ]
    _table(out, header, body)
    return 0


async def _usage_prune(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    before = parse_past(args.before, datetime.now(UTC))
    state = await _open(config)
    try:
        result = await state.usage.prune(before)
    finally:
        await state.close()
    out.write(
        f"pruned {result.deleted_rows} usage rows before {before.isoformat(timespec='seconds')} "
        f"into {result.rollup_rows} daily rollups\n"
    )
    return 0


async def _db_upgrade(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    engine = create_engine(config.database_url or default_database_url(config.data_dir))
    try:
        await upgrade(engine)
        status = await schema_status(engine)
    finally:
        await engine.dispose()
    out.write(status.explain() + "\n")
    return 0


async def _db_status(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    engine = create_engine(config.database_url or default_database_url(config.data_dir))
    try:
        status = await schema_status(engine)
    finally:
        await engine.dispose()
    out.write(status.explain() + "\n")
    return 0 if status.state == "current" else 1
