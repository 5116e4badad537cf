"""Cost of routing one request: ``plan()`` on the shipped policy (prints; asserts nothing).

Loads ``policies/`` with a fake key for every provider (so every channel is enabled and
the aliases have their full candidate lists), decodes a few OpenAI request shapes, and
times ``engine.routing.plan.plan`` call by call (and ``request_facts`` + ``plan``, what
the pipeline pays per request).

Run from the repository root::

    .venv/bin/python -m tests.bench.bench_plan [--calls 20000] [--seconds 2]

Budget: plan() <= 50 µs p50 for every shape.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.canonical import ChatRequest
from engine.policy.load import load_policy
from engine.routing.facts import request_facts
from engine.routing.health import Health
from engine.routing.plan import KeyFacts, plan
from providers.openai.codec import OpenAIChatCodec
from tests.bench.report import budget_line, machine_line
from tests.bench.stats import percentile

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
PROVIDER_KEYS = {
    name: "sk-bench-not-a-real-key"
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY")
}
P50_BUDGET_US = 50.0
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file of the repository",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        },
    }
]
MESSAGES = [
    {"role": "system", "content": "You are a careful senior engineer."},
    {"role": "user", "content": "Why does this function leak file handles? " + "def f(): open('x') " * 20},
]


def shapes() -> dict[str, dict[str, Any]]:
    return {
        "alias auto (cheapest + CEL filter/cost)": {"model": "auto", "messages": MESSAGES, "max_tokens": 512},
        "alias auto, with tools": {"model": "auto", "messages": MESSAGES, "tools": TOOLS, "max_tokens": 512},
        "alias smart-code, no tools (rule 2)": {"model": "smart-code", "messages": MESSAGES},
        "alias smart-code, with tools (rule 1)": {"model": "smart-code", "messages": MESSAGES, "tools": TOOLS},
        "alias fast (fastest strategy)": {"model": "fast", "messages": MESSAGES},
        "concrete model gpt-4.1-mini": {"model": "gpt-4.1-mini", "messages": MESSAGES, "max_tokens": 256},
    }


@dataclass(frozen=True, slots=True)
class Timing:
    """Per-call CPU time of this thread (immune to other processes taking the CPU) and
    wall time, in µs, each sorted."""

    cpu: list[float]
    wall: list[float]


def sample(fn: Callable[[], object], calls: int, seconds: float) -> Timing:
    """``calls`` calls or ``seconds`` of them, whichever ends first, after a warm-up."""
    for _ in range(min(200, calls)):
        fn()
    cpu_clock, wall_clock = time.thread_time_ns, time.perf_counter_ns
    deadline = wall_clock() + int(seconds * 1e9)
    cpu, wall = [], []
    for _ in range(calls):
        start_wall, start_cpu = wall_clock(), cpu_clock()
        fn()
        end_cpu, end_wall = cpu_clock(), wall_clock()
        cpu.append((end_cpu - start_cpu) / 1000)
        wall.append((end_wall - start_wall) / 1000)
        if end_wall > deadline:
            break
    cpu.sort()
    wall.sort()
    return Timing(cpu, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description="plan() cost on the shipped policy")
    parser.add_argument("--calls", type=int, default=20000, help="most timed calls per shape (default 20000)")
    parser.add_argument("--seconds", type=float, default=2.0, help="most time per series (default 2)")
    args = parser.parse_args()
    result = load_policy(POLICY_DIR, PROVIDER_KEYS)
    if result.policy is None:
        for diagnostic in result.diagnostics:
            print(diagnostic, file=sys.stderr)
        raise SystemExit(f"the policy in {POLICY_DIR} does not load")
    policy = result.policy
    codec = OpenAIChatCodec()
    health = Health()
    key = KeyFacts("bench", "default", ())
    now = datetime.now(UTC)
    rng = random.Random(0)
    print(
        f"plan() on {POLICY_DIR} (policy {policy.version}, every provider key set);"
        f" up to {args.calls} calls or {args.seconds:g} s per series"
    )
    print(machine_line())
    print("  µs per call; CPU = this thread's CPU time (excludes time other processes held the core), wall = elapsed")
    print(
        f"  {'request shape':<40} {'attempts':>8} {'calls':>6} {'plan CPU p50':>13} {'p99':>8} {'wall p50':>9}"
        f" {'facts+plan CPU p50':>19} {'p99':>8}"
    )
    worst = 0.0
    for label, body in shapes().items():
        request = codec.decode_request(body)
        facts = request_facts(request, {}, policy.request_headers)
        route = plan(facts, policy, health, key, now, rng)
        timed = sample(lambda: plan(facts, policy, health, key, now, rng), args.calls, args.seconds)  # noqa: B023 - run at once

        def both(request: ChatRequest = request) -> object:
            return plan(request_facts(request, {}, policy.request_headers), policy, health, key, now, rng)

        total = sample(both, args.calls, args.seconds)
        p50 = percentile(timed.cpu, 50)
        worst = max(worst, p50)
        print(
            f"  {label:<40} {len(route.attempts):>8} {len(timed.cpu):>6} {p50:>13.1f} {percentile(timed.cpu, 99):>8.1f}"
            f" {percentile(timed.wall, 50):>9.1f} {percentile(total.cpu, 50):>19.1f} {percentile(total.cpu, 99):>8.1f}"
        )
    print("budget:")
    print(
        budget_line(
            "plan() CPU p50, slowest shape", f"{worst:.1f} µs", f"<= {P50_BUDGET_US:g} µs", worst <= P50_BUDGET_US
        )
    )


if __name__ == "__main__":
    main()
