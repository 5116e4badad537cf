"""``turnout drift``: the parser. The command lives in ``engine.drift.commands``, imported (with
the database drivers) only when it runs, so every other command starts quickly. Exit status:
0 with a report, 3 with a report when ``--fail-on-drift`` is given and something is flagged,
1 on an error (one line on stderr), 2 for a usage error (as argparse does).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.state.cli import StateConfig


def _share(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a share: {text!r} (write 0.9 or 90%)") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1 (or 0% and 100%), got {text!r}")
    return value


def _tolerance(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a tolerance: {text!r} (write 0.25 or 25%)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a tolerance is not negative, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, got {text!r}")
    return value


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    load_config: Callable[[], StateConfig],
    policy_dir: Callable[[], Path],
) -> None:
    drift = subparsers.add_parser(
        "drift", help="what the usage log says about the policy: dead rules, idle models, failing channels, cost drift"
    )
    drift.add_argument("--since", default="7d", help="read the usage log from this long ago or date (default 7d)")
    drift.add_argument("--policy", metavar="DIR", help="the policy directory (default: the one `turnout serve` uses)")
    drift.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    drift.add_argument("--fail-on-drift", action="store_true", help="exit 3 when anything is flagged (for CI)")
    drift.add_argument(
        "--min-attempts", type=_count, default=20, help="attempts a channel needs before it can be flagged (default 20)"
    )
    drift.add_argument(
        "--failover-share", type=_share, default=0.9, help="failed share of attempts that flags a channel (default 0.9)"
    )
    drift.add_argument(
        "--cost-tolerance", type=_tolerance, default=0.25,
        help="how far a model's cost per request may be from the policy's estimate (default 0.25, i.e. 25%%)",
    )  # fmt: skip

    def run(args: argparse.Namespace) -> int:
        commands = importlib.import_module("engine.drift.commands")
        try:
            code: int = commands.cmd_drift(args, load_config, policy_dir, sys.stdout)
        except commands.EXPECTED as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return code

    drift.set_defaults(func=run)
