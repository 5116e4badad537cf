"""What ``turnout drift`` does (parser: ``engine.drift.cli``): load the current policy, tally
the usage log over the window, print the report. ``EXPECTED`` are the errors that become one
line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from engine.drift.read_db import rows_between
from engine.drift.render import render
from engine.drift.report import Thresholds, Window, build
from engine.drift.tally import Tally
from engine.policy.compiled import CompiledPolicy
from engine.replay.load import PolicyLoadError, load
from engine.replay.read_db import UsageLogError, usage_log_engine
from engine.state.cli import StateConfig
from engine.state.errors import StateError
from engine.state.timeparse import parse_past

EXIT_DRIFT = 3


async def tally_usage_log(config: StateConfig, policy: CompiledPolicy, window: Window) -> Tally:
    tally = Tally(policy)
    async with usage_log_engine(config) as engine:
        async for row in rows_between(engine, window.since, window.until):
            tally.add(row)
    return tally


def cmd_drift(
    args: argparse.Namespace,
    load_config: Callable[[], StateConfig],
    policy_dir: Callable[[], Path],
    out: TextIO,
) -> int:
    directory = Path(args.policy) if args.policy else policy_dir()
    policy = load(directory, False, str(directory))
    now = datetime.now(UTC)
    window = Window(parse_past(args.since, now), now)
    tally = asyncio.run(tally_usage_log(load_config(), policy, window))
    limits = Thresholds(args.min_attempts, args.failover_share, args.cost_tolerance)
    data = build(tally, window, limits, str(directory))
    out.write(render(data, args.format) + "\n")
    return EXIT_DRIFT if args.fail_on_drift and data["flagged"] else 0


EXPECTED = (UsageLogError, PolicyLoadError, StateError, ValueError)
