"""What ``turnout replay``, ``turnout diff`` and ``turnout usage export`` do (parsers: ``engine.replay.cli``).

The I/O around the pure replay: load the policies (``engine.replay.load``), read the
traffic (the usage log ``--since``, or an export ``--from``), compare, print the report to
stdout; the progress bar goes to stderr. ``EXPECTED`` are the errors that become one line
on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from engine.replay.export import ExportError, read_export, write_export
from engine.replay.git_revs import RevisionError, describe, policy_at
from engine.replay.load import PolicyLoadError, candidate_of, load
from engine.replay.progress import Progress
from engine.replay.read_db import Loaded, UsageLogError, recorded_since, usage_log_engine
from engine.replay.recorded import RecordedRequest
from engine.replay.render import render
from engine.replay.replan import Replanner, recorded_outcome
from engine.replay.report import Report, Side, compare, policy_notes
from engine.state.cli import StateConfig
from engine.state.errors import StateError
from engine.state.timeparse import parse_instant, parse_past

EXIT_REFUSALS = 3


class ReplayError(Exception):
    """One line for stderr, exit status 1."""


async def _from_database(config: StateConfig, since: datetime, until: datetime | None) -> Loaded:
    async with usage_log_engine(config, " (or use --from FILE)") as engine:
        return await recorded_since(engine, since, until)


def traffic(args: argparse.Namespace, load_config: Callable[[], StateConfig]) -> tuple[list[RecordedRequest], int]:
    """The recorded requests to replay (``--from FILE`` or the usage log ``--since``), and how
    many rows in the window carry no routing facts."""
    if args.source:
        if args.until:
            raise ReplayError("--until applies to --since (the usage log), not to --from FILE")
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
    if args.canary:
        candidate = candidate_of(candidate, str(directory))
    requests, skipped = traffic(args, load_config)
    what = "canary candidate" if args.canary else "policy"
    report = Report("recorded traffic", f"{args.policy} ({what} {candidate.version[:12]})")
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
        if args.canary:
            policy_b = candidate_of(policy_b, f"{args.rev_b}:{args.policy_path}")
    requests, skipped = traffic(args, load_config)
    report = Report(
        describe(cwd, args.rev_a), describe(cwd, args.rev_b) + (" (canary candidate)" if args.canary else "")
    )
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


EXPECTED = (ReplayError, UsageLogError, PolicyLoadError, RevisionError, StateError, ValueError)
