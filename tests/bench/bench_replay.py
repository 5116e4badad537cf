"""How fast ``turnout replay`` and ``turnout diff`` go through recorded traffic (prints; asserts nothing).

Builds 100,000 recorded requests (a fixed seed: the shipped aliases and models, prompt
sizes from 50 to 150,000 tokens, tools, images, the ``x-team`` header, both groups, times
over one day), writes them as an export file, then times, each the best of ``--rounds``:

* reading the export (``read_export``: JSON lines to ``RecordedRequest``),
* a replay against the shipped ``policies/`` (the recorded side against one re-planned side),
* a diff (both sides re-planned, as ``turnout diff`` does).

Run from the repository root::

    .venv/bin/python -m tests.bench.bench_replay [--requests 100000] [--rounds 2]

Budget: replaying 100,000 requests takes seconds: <= 10 s for a replay against one policy
(one ``plan()`` per request; a diff plans each request twice and takes about twice as long).
On a loaded machine every figure grows with the load average printed beside it.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.replay.export import read_export, write_export
from engine.replay.load import load
from engine.replay.recorded import RecordedRequest
from engine.replay.replan import Replanner, recorded_outcome
from engine.replay.report import Report, compare
from tests.bench.report import budget_line, machine_line

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
REPLAY_BUDGET_S = 10.0
MODELS = ["auto"] * 5 + ["smart-code"] * 3 + ["fast"] * 3 + ["gpt-5.5", "claude-sonnet-4.5", "gemini-2.5-flash"]
START = datetime(2026, 6, 1, tzinfo=UTC)


def traffic(count: int) -> list[RecordedRequest]:
    rng = random.Random(7)
    out = []
    for i in range(count):
        prompt = int(rng.lognormvariate(7, 1.6)) % 150_000 + 50
        completion = rng.randint(1, 2000)
        out.append(
            RecordedRequest(
                request_id=f"req-{i:06d}", planned_at=START + timedelta(seconds=rng.uniform(0, 86_400)),
                model=rng.choice(MODELS), estimated_tokens=prompt, max_tokens=rng.choice([None, 1024, 4096, 8192]),
                stream=rng.random() < 0.7, has_tools=rng.random() < 0.4, has_images=rng.random() < 0.05,
                wants_json=rng.random() < 0.05, message_count=rng.randint(1, 40), metadata={},
                headers={"x-team": rng.choice(["search", "ads", "infra"])} if rng.random() < 0.5 else {},
                key_name=f"key-{i % 50}", key_group=rng.choice(["default", "team-a"]), key_tags=(), keyed=True,
                first_model="gpt-5.5", first_channel="openai", served_model="gpt-5.5", served_channel="openai",
                status=200, prompt_tokens=prompt, completion_tokens=completion, cached_tokens=prompt // 3,
                reasoning_tokens=0, cost_micros=prompt * 2 + completion * 8,
            )
        )  # fmt: skip
    return out


def best(rounds: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description="turnout replay / diff throughput")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    policy = load(POLICY_DIR, False, "policies")  # every ${VAR} set: every channel on
    requests = traffic(args.requests)
    buffer = io.BytesIO()
    write_export(requests, buffer)
    lines = buffer.getvalue().splitlines()
    n = len(requests)

    read_s = best(args.rounds, lambda: list(read_export(lines, "bench")))

    def replay() -> Report:
        return compare(requests, recorded_outcome, Replanner(policy).outcome, Report("recorded", "policies"))

    def diff() -> Report:
        return compare(requests, Replanner(policy).outcome, Replanner(policy).outcome, Report("a", "b"))

    replay_s = best(args.rounds, replay)
    diff_s = best(args.rounds, diff)
    summary = replay().to_json()
    print(f"turnout replay / diff: {n:,} recorded requests on the shipped policies/ (best of {args.rounds})")
    print(machine_line())
    print(f"  export size           {len(buffer.getvalue()) / n:>8.0f} bytes per request")
    print(f"  read the export       {read_s:>8.2f} s   {n / read_s:>10,.0f} requests/s")
    print(f"  replay (one policy)   {replay_s:>8.2f} s   {n / replay_s:>10,.0f} requests/s")
    print(f"  diff (two policies)   {diff_s:>8.2f} s   {n / diff_s:>10,.0f} requests/s")
    print(f"  (replay: {summary['changed']:,} route changes, {summary['became_refused']:,} refused)")
    print("budgets:")
    ok = replay_s <= REPLAY_BUDGET_S
    print(budget_line(f"replay of {n:,} requests", f"{replay_s:.2f} s", f"<= {REPLAY_BUDGET_S:g} s", ok))


if __name__ == "__main__":
    main()
