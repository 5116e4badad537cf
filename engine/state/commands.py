"""The implementations of ``turnout keys|credits|usage|db`` (parsers in ``engine.state.cli``,
which imports this module only when one of them runs, so other commands start quickly)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.byok import register as byok
from engine.byok.vault import Vault
from engine.state.cli import StateConfig
from engine.state.db import check_reachable, create_engine, database_label, default_database_url
from engine.state.keys import KeyRecord, NewKey
from engine.state.migrate import schema_status, upgrade
from engine.state.money import format_usd, parse_usd
from engine.state.records_json import balance_json, key_json
from engine.state.state import State, open_state
from engine.state.timeparse import parse_future, parse_instant, parse_past
from engine.state.usage_report import UsageQuery, usage_rollups


@asynccontextmanager
async def opened_state(config: StateConfig) -> AsyncIterator[State]:
    """The state store for one command, closed (and its usage log flushed) when it is done."""
    state = await open_state(
        data_dir=config.data_dir,
        database_url=config.database_url,
        redis_url=config.redis_url,
        secret_key=config.secret_key,
        workers=1,
        vault=Vault.from_settings(config.byok_key, config.byok_old_keys),
    )
    try:
        yield state
    finally:
        await state.close()


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _print_json(out: TextIO, data: Any) -> None:
    out.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        out.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() + "\n")


async def keys_create(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
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
    async with opened_state(config) as state:
        created = await state.keys.create(spec, known_groups=groups)
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


async def keys_list(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        keys = await state.keys.list()
    if args.json:
        _print_json(out, {"keys": [key_json(k) for k in keys]})
        return 0
    header = ["NAME", "ID", "PREFIX", "GROUP", "STATE", "EXPIRES", "SPEND", "QUOTA", "ACCOUNT"]
    now = datetime.now(UTC)
    print_table(out, header, [_key_row(k, now) for k in keys])
    return 0


async def _keys_set(args: argparse.Namespace, config: StateConfig, out: TextIO, enabled: bool) -> int:
    async with opened_state(config) as state:
        key = await state.keys.set_enabled(args.key, enabled)
    out.write(f"key '{key.name}' {'enabled' if enabled else 'disabled'}\n")
    return 0


async def keys_disable(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    return await _keys_set(args, config, out, False)


async def keys_enable(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    return await _keys_set(args, config, out, True)


async def keys_rotate(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        rotated = await state.keys.rotate(args.key)
    out.write(f"key '{rotated.key.name}' rotated; the old secret no longer works\n")
    out.write("new secret (shown only now; store it safely):\n")
    out.write(rotated.secret + "\n")
    return 0


async def keys_delete(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        key = await state.keys.delete(args.key)
    out.write(f"key '{key.name}' deleted (account {key.account_id} and usage history kept)\n")
    return 0


async def credits_add(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    amount = parse_usd(args.amount)
    if amount <= 0:
        raise ValueError("the amount must be positive")
    async with opened_state(config) as state:
        await state.accounts.get(args.account)
        if args.prepaid:
            await state.accounts.set_prepaid(args.account, True)
        await state.ledger.credit(args.account, amount, args.note)
        balance = await state.ledger.balance(args.account)
    out.write(f"added {format_usd(amount)} to {args.account}; balance {format_usd(balance.balance_micros)}\n")
    return 0


async def credits_show(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        balance = await state.ledger.balance(args.account)
    _print_json(out, balance_json(balance))
    return 0


async def credits_reconcile(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        old, new = await state.ledger.reconcile(args.account)
    out.write(f"{args.account}: cached balance {format_usd(old)} -> ledger sum {format_usd(new)}; holds cleared\n")
    return 0


async def usage(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    now = datetime.now(UTC)
    async with opened_state(config) as state:
        key_id = (await state.keys.get(args.key)).id if args.key else None
        query = UsageQuery(
            since=parse_past(args.since, now).date() if args.since else None,
            until=parse_instant(args.until).date() if args.until else None,
            account_id=args.account,
            key_id=key_id,
        )
        rows = await usage_rollups(state.engine, query)
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
    print_table(out, header, body)
    return 0


async def usage_prune(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    before = parse_past(args.before, datetime.now(UTC))
    async with opened_state(config) as state:
        result = await state.usage.prune(before)
    out.write(
        f"pruned {result.deleted_rows} usage rows before {before.isoformat(timespec='seconds')} "
        f"into {result.rollup_rows} daily rollups\n"
    )
    return 0


async def _reachable_engine(config: StateConfig) -> AsyncEngine:
    url = config.database_url or default_database_url(config.data_dir)
    engine = create_engine(url)
    try:
        await check_reachable(engine, database_label(url, configured=config.database_url is not None))
    except BaseException:
        await engine.dispose()
        raise
    return engine


async def db_upgrade(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    engine = await _reachable_engine(config)
    try:
        await upgrade(engine)
        status = await schema_status(engine)
    finally:
        await engine.dispose()
    out.write(status.explain() + "\n")
    return 0


async def db_status(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    engine = await _reachable_engine(config)
    try:
        status = await schema_status(engine)
    finally:
        await engine.dispose()
    out.write(status.explain() + "\n")
    return 0 if status.state == "current" else 1


async def byok_set(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    secret = sys.stdin.readline() if not sys.stdin.isatty() else getpass.getpass("provider key (not echoed): ")
    async with opened_state(config) as state:
        policy = config.load_policy() if config.load_policy is not None else None
        await byok.register(state, policy, args.key, args.channel, secret)
    out.write(f"stored the key's own provider key for channel {args.channel} (sealed; it is not shown again)\n")
    return 0


async def byok_list(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        entries = await byok.listing(state, args.key)
    print_table(out, ["CHANNEL", "SET"], [[e.channel, e.created_at.isoformat(timespec="seconds")] for e in entries])
    return 0


async def byok_delete(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        await byok.remove(state, args.key, args.channel)
    out.write(f"forgot the key's own provider key for channel {args.channel}\n")
    return 0


async def byok_rotate(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        count = await byok.rotate(state)
    out.write(f"resealed {count} BYOK secret(s) with the current TURNOUT_BYOK_KEY\n")
    return 0
