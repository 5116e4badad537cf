"""Cost of routing one request: ``plan()`` on the shipped policy (prints; asserts nothing).

Loads ``policies/`` with a fake key for every provider (so every channel is enabled and
the aliases have their full candidate lists), decodes a few OpenAI request shapes, and
times ``engine.routing.plan.plan`` call by call (and ``request_facts`` + ``plan``, what
the pipeline pays per request).

Run from the repository root::

    .venv/bin/python -m tests.bench.bench_plan [--calls 20000]

Budget: plan() <= 50 µs p50 for every shape.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.policy.load import load_policy
from engine.routing.facts import request_facts
from engine.routing.health import Health
from engine.routing.plan import KeyFacts, plan
from providers.openai.chat_codec import OpenAIChatCodec
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


def sample(fn: Callable[[], object], calls: int) -> list[float]:
    """Per-call wall time in µs, sorted, after a warm-up."""
    for _ in range(min(1000, calls)):
        fn()
    clock = time.perf_counter_ns
    out = []
    for _ in range(calls):
        start = clock()
        fn()
        out.append((clock() - start) / 1000)
    out.sort()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="plan() cost on the shipped policy")
    parser.add_argument("--calls", type=int, default=20000, help="timed calls per shape (default 20000)")
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
    print(f"plan() on {POLICY_DIR} (policy {policy.version}, every provider key set), {args.calls} calls per shape")
    print(machine_line())
    print(f"  {'request shape':<40} {'attempts':>8} {'plan p50':>9} {'p99':>9} {'facts+plan p50':>15} {'p99':>9}  (µs)")
    worst = 0.0
    for label, body in shapes().items():
        request = codec.decode_request(body)
        facts = request_facts(request, {}, policy.request_headers)
        route = plan(facts, policy, health, key, now, rng)
        timed = sample(lambda: plan(facts, policy, health, key, now, rng), args.calls)

        def both() -> object:
            return plan(request_facts(request, {}, policy.request_headers), policy, health, key, now, rng)

        total = sample(both, args.calls)
        p50 = percentile(timed, 50)
        worst = max(worst, p50)
        print(
            f"  {label:<40} {len(route.attempts):>8} {p50:>9.1f} {percentile(timed, 99):>9.1f}"
            f" {percentile(total, 50):>15.1f} {percentile(total, 99):>9.1f}"
        )
    print("budget:")
    print(budget_line("plan() p50, slowest shape", f"{worst:.1f} µs", f"<= {P50_BUDGET_US:g} µs", worst <= P50_BUDGET_US))


if __name__ == "__main__":
    main()
