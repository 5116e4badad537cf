"""``turnout replay``, ``turnout diff`` and ``turnout usage export``: the I/O around the pure replay.

Exit status: 0 with a report, 1 on an error (a policy that does not load, an unreadable
export, no usage log, an unknown revision), 3 with a report when ``--fail-on-refusal`` is
given and some request would become refused. Reports go to stdout, errors and the progress
bar to stderr.

Policies are loaded as the server would load them, except that every ``${VAR}`` a policy
references counts as set (``PlaceholderEnv``): a replay in CI, where provider keys are
absent, still sees every channel the policy enables in production. ``--real-env`` uses
the environment as it is instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from engine.policy.compiled import CompiledPolicy
from engine.policy.load import load_policy
from engine.replay.export import ExportError, read_export, write_export
from engine.replay.git_revs import RevisionError, describe, policy_at
from engine.replay.progress import Progress
from engine.replay.read_db import Loaded, recorded_since
from engine.replay.recorded import RecordedRequest
from engine.replay.render import render
from engine.replay.replan import Replanner, recorded_outcome
from engine.replay.report import Report, Side, compare, policy_notes
from engine.state.cli import StateConfig
from engine.state.db import check_reachable, create_engine, database_label, default_database_url
from engine.state.errors import StateError
from engine.state.migrate import schema_status
from engine.state.timeparse import parse_instant, parse_past

EXIT_REFUSALS = 3
PLACEHOLDER = "turnout-replay-placeholder"


class PlaceholderEnv(Mapping[str, str]):
    """The real environment, where every unset variable reads as a placeholder."""

    def __init__(self, real: Mapping[str, str]) -> None:
        self._real = real

    def __getitem__(self, name: str) -> str:
        return self._real.get(name) or PLACEHOLDER

    def __iter__(self) -> Iterator[str]:
        return iter(self._real)

    def __len__(self) -> int:
        return len(self._real)


class ReplayError(Exception):
    """One line for stderr, exit status 1."""


def load(directory: Path, real_env: bool, label: str) -> CompiledPolicy:
    env: Mapping[str, str] = os.environ if real_env else PlaceholderEnv(os.environ)
    if not directory.is_dir():
        raise ReplayError(f"{label}: no policy directory at {directory}")
    result = load_policy(directory, env)
    if result.policy is None:
        problems = "; ".join(str(d) for d in result.diagnostics if d.severity == "error")
        raise ReplayError(f"{label}: the policy has errors: {problems or 'see turnout check'}")
    return result.policy


async def _from_database(config: StateConfig, since: datetime, until: datetime | None) -> Loaded:
    url = config.database_url or default_database_url(config.data_dir)
    if config.database_url is None and not (Path(config.data_dir).expanduser() / "turnout.db").exists():
        raise ReplayError(f"no usage log: {database_label(url, configured=False)} does not exist (or use --from FILE)")
    engine = create_engine(url)
    try:
        await check_reachable(engine, database_label(url, configured=config.database_url is not None))
        status = await schema_status(engine)
        if status.state != "current":
            raise ReplayError(status.explain())
        return await recorded_since(engine, since, until)
    finally:
        await engine.dispose()


def traffic(args: argparse.Namespace, load_config: Callable[[], StateConfig]) -> tuple[list[RecordedRequest], int]:
    """The recorded requests to replay (``--from FILE`` or the usage log ``--since``), and how
    many rows in the window carry no routing facts."""
    if args.source:
        try:
            if args.source == "-":
                return list(read_export(sys.stdin.buffer, "<stdin>")), 0
            with open(args.source, "rb") as handle:
                return list(read_export(handle, args.source)), 0
        except OSError as exc:
            raise ReplayError(f"cannot read {args.source}: {exc.strerror or exc}") from None
        except ExportError as exc:
            raise ReplayError(str(exc)) from None
    now = datetime.now(UTC)
    since = parse_past(args.since, now)
    until = parse_instant(args.until) if args.until else None
    loaded = asyncio.run(_from_database(load_config(), since, until))
    return loaded.requests, loaded.without_facts


def _report(
    requests: list[RecordedRequest], skipped: int, before: Side, after: Side, report: Report, err: TextIO
) -> Report:
    progress = Progress(len(requests), err) if len(requests) >= 10_000 else None
    try:
        compare(requests, before, after, report, progress.update if progress else None)
    finally:
        if progress is not None:
            progress.close()
    if skipped:
        report.notes.append(
            f"{skipped} request rows in the window carry no routing facts (older rows) and were skipped"
        )
    return report


def _finish(report: Report, args: argparse.Namespace, out: TextIO) -> int:
    out.write(render(report.to_json(), args.format) + "\n")
    return EXIT_REFUSALS if args.fail_on_refusal and report.refused else 0


def _headers_seen(requests: list[RecordedRequest]) -> set[str]:
    return {name for r in requests for name in r.headers}


def cmd_replay(args: argparse.Namespace, load_config: Callable[[], StateConfig], out: TextIO, err: TextIO) -> int:
    directory = Path(args.policy)
    candidate = load(directory, args.real_env, str(directory))
    requests, skipped = traffic(args, load_config)
    report = Report("recorded traffic", f"{args.policy} (policy {candidate.version[:12]})")
    report.notes.extend(policy_notes(candidate, _headers_seen(requests)))
    report.notes.append(
        "before: the first candidate each request was planned on and the cost it was charged; "
        "after: the candidate's first candidate, the same actual tokens at its prices"
    )
    _report(requests, skipped, recorded_outcome, Replanner(candidate).outcome, report, err)
    return _finish(report, args, out)


def cmd_diff(args: argparse.Namespace, load_config: Callable[[], StateConfig], out: TextIO, err: TextIO) -> int:
    cwd = Path.cwd()
    with policy_at(args.rev_a, args.policy_path, cwd) as dir_a, policy_at(args.rev_b, args.policy_path, cwd) as dir_b:
        policy_a = load(dir_a, args.real_env, f"{args.rev_a}:{args.policy_path}")
        policy_b = load(dir_b, args.real_env, f"{args.rev_b}:{args.policy_path}")
    requests, skipped = traffic(args, load_config)
    report = Report(describe(cwd, args.rev_a), describe(cwd, args.rev_b))
    seen = _headers_seen(requests)
    report.notes.extend(dict.fromkeys([*policy_notes(policy_a, seen), *policy_notes(policy_b, seen)]))
    if policy_a.version == policy_b.version:
        report.notes.append("both revisions hold the same policy")
    _report(requests, skipped, Replanner(policy_a).outcome, Replanner(policy_b).outcome, report, err)
    return _finish(report, args, out)


async def _export(config: StateConfig, args: argparse.Namespace) -> Loaded:
    now = datetime.now(UTC)
    return await _from_database(config, parse_past(args.since, now), parse_instant(args.until) if args.until else None)


def cmd_export(args: argparse.Namespace, load_config: Callable[[], StateConfig], out: TextIO, err: TextIO) -> int:
    loaded = asyncio.run(_export(load_config(), args))
    if args.output in (None, "-"):
        count = write_export(loaded.requests, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        with open(args.output, "wb") as handle:
            count = write_export(loaded.requests, handle)
    err.write(f"exported {count} recorded requests" + (f" ({loaded.without_facts} without facts skipped)\n"
              if loaded.without_facts else "\n"))  # fmt: skip
    return 0


Command = Callable[[argparse.Namespace, Callable[[], StateConfig], TextIO, TextIO], int]


def _bind(parser: argparse.ArgumentParser, command: Command, load_config: Callable[[], StateConfig]) -> None:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args, load_config, sys.stdout, sys.stderr)
        except (ReplayError, RevisionError, StateError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    parser.set_defaults(func=run)


def _traffic_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--since", default="24h", help="replay the usage log from this long ago or date (default 24h)")
    source.add_argument(
        "--from", dest="source", metavar="FILE", help="replay an export (turnout usage export; - = stdin)"
    )
    parser.add_argument("--until", help="with --since: stop at this date or time")
    parser.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    parser.add_argument("--fail-on-refusal", action="store_true", help="exit 3 when a request would become refused")
    parser.add_argument("--real-env", action="store_true", help="channels whose ${VAR} is unset stay disabled")


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], load_config: Callable[[], StateConfig]
) -> None:
    replay = subparsers.add_parser("replay", help="re-plan recorded requests against a candidate policy")
    replay.add_argument("--policy", required=True, metavar="DIR", help="the candidate policy directory")
    _traffic_options(replay)
    _bind(replay, cmd_replay, load_config)

    diff = subparsers.add_parser("diff", help="replay recorded requests through two git revisions of the policy")
    diff.add_argument("rev_a", metavar="REV_A")
    diff.add_argument("rev_b", metavar="REV_B")
    diff.add_argument("--policy-path", default="policies", help="the policy directory in the repository")
    _traffic_options(diff)
    _bind(diff, cmd_diff, load_config)


def register_export(usage_commands: Any, load_config: Callable[[], StateConfig]) -> None:
    """``turnout usage export``, added to the ``usage`` command's sub-commands."""
    export = usage_commands.add_parser("export", help="write recorded requests (routing facts) as JSON lines")
    export.add_argument("--since", default="24h", help="from this long ago or date (default 24h)")
    export.add_argument("--until", help="stop at this date or time")
    export.add_argument("--output", "-o", help="file to write (default stdout)")
    _bind(export, cmd_export, load_config)
