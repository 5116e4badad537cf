"""The ``turnout keys|credits|usage|db`` commands, run in-process against a SQLite data dir."""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.access import UsageRecord
from engine.policy.compiled import GroupSpec
from engine.state.cli import StateConfig, register
from engine.state.state import open_state
from tests.state.conftest import SECRET_KEY, make_policy


def run(config: StateConfig, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="turnout")
    register(parser.add_subparsers(dest="command", required=True), lambda: config)
    args = parser.parse_args(list(argv))
    status: int = args.func(args)
    return status


@pytest.fixture
def config(tmp_path: Path) -> StateConfig:
    policy = make_policy(default=GroupSpec("default"), gold=GroupSpec("gold"))
    return StateConfig(data_dir=tmp_path, secret_key=SECRET_KEY, load_policy=lambda: policy)


def test_db_upgrade_and_status(config: StateConfig, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "db", "status") == 1
    assert "turnout db upgrade" in capsys.readouterr().out
    assert run(config, "db", "upgrade") == 0
    assert "current" in capsys.readouterr().out
    assert run(config, "db", "status") == 0


def test_key_lifecycle(config: StateConfig, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(
            config,
            "keys",
            "create",
            "alice",
            "--group",
            "gold",
            "--models",
            "gpt-*,fast",
            "--expires",
            "30d",
            "--quota",
            "25",
            "--ip",
            "10.0.0.0/8",
        )
        == 0
    )
    out = capsys.readouterr().out
    secret = re.search(r"sk-trn-[A-Za-z0-9]{40}", out)
    assert secret is not None and "shown only now" in out and "account alice (new)" in out

    assert run(config, "keys", "list") == 0
    listing = capsys.readouterr().out
    assert "alice" in listing and "gold" in listing and "$25.00" in listing
    assert secret.group(0) not in listing and f"sk-trn-{secret.group(0)[7:15]}..." in listing

    assert run(config, "keys", "disable", "alice") == 0
    assert "disabled" in capsys.readouterr().out
    assert run(config, "keys", "list", "--json") == 0
    assert '"enabled": false' in capsys.readouterr().out
    assert run(config, "keys", "enable", "alice") == 0
    capsys.readouterr()

    assert run(config, "keys", "rotate", "alice") == 0
    rotated = re.search(r"sk-trn-[A-Za-z0-9]{40}", capsys.readouterr().out)
    assert rotated is not None and rotated.group(0) != secret.group(0)

    assert run(config, "keys", "create", "bob", "--group", "platinum") == 1
    assert "unknown group 'platinum'" in capsys.readouterr().err
    assert run(config, "keys", "delete", "alice") == 0
    assert "deleted" in capsys.readouterr().out
    assert run(config, "keys", "delete", "alice") == 1
    assert "no API key" in capsys.readouterr().err


def test_credits_and_usage(config: StateConfig, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "keys", "create", "carol") == 0
    capsys.readouterr()
    assert run(config, "credits", "add", "carol", "12.50", "--note", "invoice 1", "--prepaid") == 0
    assert "added $12.50 to carol; balance $12.50" in capsys.readouterr().out
    assert run(config, "credits", "add", "carol", "-3") == 1
    assert "positive" in capsys.readouterr().err
    assert run(config, "credits", "add", "nobody", "3") == 1
    assert "no account 'nobody'" in capsys.readouterr().err
    assert run(config, "credits", "show", "carol") == 0
    assert '"prepaid": true' in capsys.readouterr().out

    async def add_usage() -> None:
        state = await open_state(data_dir=config.data_dir, database_url=None, redis_url=None, secret_key=SECRET_KEY)
        key = await state.keys.get("carol")
        state.gate.record(
            [
                UsageRecord(
                    "r",
                    None,
                    datetime(2025, 1, 5, tzinfo=UTC),
                    "carol",
                    key.id,
                    "/v1/chat/completions",
                    "gpt-4o",
                    None,
                    "gpt-4o",
                    "openai",
                    200,
                    None,
                    5.0,
                    None,
                    7,
                    3,
                    0,
                    0,
                    0.5,
                    "v1",
                )
            ]
        )
        await state.close()

    asyncio.run(add_usage())
    assert run(config, "usage", "--since", "2025-01-01", "--key", "carol") == 0
    report = capsys.readouterr().out
    assert "2025-01-05" in report and "gpt-4o" in report and "$0.50" in report
    assert run(config, "usage", "prune", "--before", "2025-02-01") == 0
    assert "pruned 1 usage rows" in capsys.readouterr().out
    assert run(config, "usage", "--since", "2025-01-01", "--json") == 0
    assert '"requests": 1' in capsys.readouterr().out
