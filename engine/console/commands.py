"""The implementations of ``turnout accounts ...`` (parsers in ``engine.console.cli``)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from engine.console.users import UserStore
from engine.state.cli import StateConfig
from engine.state.commands import opened_state, print_table
from engine.state.money import format_usd


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


async def create_admin(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        users = UserStore(state.engine)
        existing = await users.find_email(args.email)
        if existing is not None:
            await users.set_role(existing.id, "admin")
            out.write(f"{existing.email} is now an admin (account {existing.account_id})\n")
            return 0
        user = await users.create(args.email, _password(args), role="admin", prepaid=False)
        out.write(f"created admin {user.email} (account {user.account_id}); sign in at /console\n")
        return 0


async def invite(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        out.write(await UserStore(state.engine).create_invite(None) + "\n")
        return 0


async def list_accounts(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    async with opened_state(config) as state:
        rows = []
        for user in await UserStore(state.engine).list():
            balance = await state.ledger.balance(user.account_id)
            state_text = "disabled" if user.disabled else "active"
            rows.append([user.email, user.role, user.account_id, format_usd(balance.balance_micros), state_text])
        print_table(out, ["email", "role", "account", "balance", "state"], rows)
        return 0
