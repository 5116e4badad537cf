"""The implementations of ``turnout canary status|reset`` (parsers in ``engine.canary.cli``)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import orjson

from engine.canary.monitor import Rollback, record_name
from engine.canary.stats import SideStats, rollback_holds
from engine.canary.window import window_stats
from engine.policy.compiled import CelEvalError, CompiledPolicy
from engine.policy.load import load_policy
from engine.policy.secrets import process_env
from engine.state.cli import StateConfig
from engine.state.commands import opened_state
from engine.state.meta import delete_value, read_text


def _policy(args: argparse.Namespace, config: StateConfig) -> CompiledPolicy:
    if not args.policies:
        if config.load_policy is None:
            raise ValueError("name the policy directory with --policies")
        return config.load_policy()
    loaded = load_policy(Path(args.policies), process_env().read())
    if loaded.policy is None:
        raise ValueError(f"the policy in {args.policies} has errors: run `turnout check`")
    return loaded.policy


async def status(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    policy = _policy(args, config)
    spec = policy.canary
    if spec is None:
        raise ValueError("the policy has no [canary]")
    now = datetime.now(UTC)
    async with opened_state(config) as state:
        async with state.engine.connect() as conn:
            stored = await read_text(conn, record_name(spec.version))
        canary, stable = await window_stats(
            state.engine, spec.version, policy.version, now - timedelta(seconds=spec.window)
        )
    rollback = Rollback.from_json(stored) if stored is not None else None
    try:
        holds: bool | str = rollback_holds(spec.rollback, canary, stable)
    except CelEvalError as exc:
        holds = f"fails: {exc}"
    report: dict[str, Any] = {
        "stable_version": policy.version,
        "canary_version": spec.version,
        "state": "rolled_back" if rollback else "serving",
        "rolled_back": None if rollback is None else {"at": rollback.at, "reason": rollback.reason},
        "rollback_when": spec.rollback.source,
        "holds_now": holds,
        "window_s": spec.window,
        "canary": canary.variables(),
        "stable": stable.variables(),
    }
    if args.format == "json":
        out.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    out.write(f"canary {spec.version} beside stable {policy.version}: {report['state'].replace('_', ' ')}\n")
    if rollback is not None:
        out.write(f"  rolled back at {rollback.at}: {rollback.reason}\n")
    out.write(f"  rolls back when: {spec.rollback.source}  (now: {holds})\n")
    out.write(f"  last {spec.window:g}s:\n")
    out.write(f"    canary: {_line(canary)}\n    stable: {_line(stable)}\n")
    return 0


def _line(side: SideStats) -> str:
    return side.describe() if side.requests else "no requests"


async def reset(args: argparse.Namespace, config: StateConfig, out: TextIO) -> int:
    version = args.version
    if version is None:
        spec = _policy(args, config).canary
        if spec is None:
            raise ValueError("the policy has no [canary]: name the version to reset")
        version = spec.version
    async with opened_state(config) as state, state.engine.begin() as conn:
        removed = await delete_value(conn, record_name(version))
    if not removed:
        out.write(f"canary {version} was not rolled back: nothing to reset\n")
        return 0
    out.write(f"canary {version}: rollback forgotten; every worker serves it again within its check_every\n")
    return 0
