"""``turnout replay``, ``turnout diff`` and ``turnout usage export``: the parsers.

The commands live in ``engine.replay.commands``, imported (with the database drivers) only
when one runs, so every other command starts quickly. Exit status: 0 with a report, 1 on an
error (one line on stderr), 3 with a report when ``--fail-on-refusal`` is given and some
request would become refused (2 for a usage error, as argparse does).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from engine.state.cli import StateConfig

Command = Callable[[argparse.Namespace, Callable[[], "StateConfig"], TextIO, TextIO], int]


def _bind(parser: argparse.ArgumentParser, name: str, load_config: Callable[[], StateConfig]) -> None:
    """``name``: the command's function in ``engine.replay.commands``."""

    def run(args: argparse.Namespace) -> int:
        commands = importlib.import_module("engine.replay.commands")
        command: Command = getattr(commands, name)
        try:
            return command(args, load_config, sys.stdout, sys.stderr)
        except commands.EXPECTED as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    parser.set_defaults(func=run)


def _traffic_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--since", default="24h", help="replay the usage log from this long ago or date (default 24h)")
    source.add_argument("--from", dest="source", metavar="FILE", help="replay an export file (- reads stdin)")
    parser.add_argument("--until", help="with --since: stop at this date or time")
    parser.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    parser.add_argument("--fail-on-refusal", action="store_true", help="exit 3 when a request would become refused")
    parser.add_argument("--real-env", action="store_true", help="channels whose secrets are unset stay disabled")


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], load_config: Callable[[], StateConfig]
) -> None:
    replay = subparsers.add_parser("replay", help="re-plan recorded requests against a candidate policy")
    replay.add_argument("--policy", required=True, metavar="DIR", help="the candidate policy directory")
    replay.add_argument("--canary", action="store_true", help="re-plan on DIR's canary candidate (canary/)")
    _traffic_options(replay)
    _bind(replay, "cmd_replay", load_config)

    diff = subparsers.add_parser("diff", help="replay recorded requests through two git revisions of the policy")
    diff.add_argument("rev_a", metavar="REV_A")
    diff.add_argument("rev_b", metavar="REV_B")
    diff.add_argument("--policy-path", default="policies", help="the policy directory in the repository")
    diff.add_argument("--canary", action="store_true", help="REV_B's side is its canary candidate (canary/)")
    _traffic_options(diff)
    _bind(diff, "cmd_diff", load_config)


def register_export(usage_commands: Any, load_config: Callable[[], StateConfig]) -> None:
    """``turnout usage export``, added to the ``usage`` command's sub-commands."""
    export = usage_commands.add_parser("export", help="write recorded requests (routing facts) as JSON lines")
    export.add_argument("--since", default="24h", help="from this long ago or date (default 24h)")
    export.add_argument("--until", help="stop at this date or time")
    export.add_argument("--output", "-o", help="file to write (default stdout)")
    _bind(export, "cmd_export", load_config)
