"""The worker's metrics in process: the executor's routing events (retry, fallback, hedge,
resume) through a real ``Recorder``, the state gauges, and the shared directory's upkeep."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.observability import multiproc
from engine.observability.metrics import Metrics
from engine.observability.recorder import Recorder
from engine.policy.compiled import CompiledPolicy
from tests.support import openai_wire
from tests.support.executor_rig import Rig, answer, drain, load
from tests.support.scripted_transport import Sse, Status

Found = dict[tuple[str, frozenset[tuple[str, str]]], float]


def read(metrics: Metrics) -> Found:
    metrics.flush()
    found: Found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Found, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    return load(tmp_path_factory.mktemp("policy"))


@pytest.fixture
def rig(policy: CompiledPolicy) -> tuple[Rig, Metrics]:
    metrics = Metrics()
    rig = Rig(policy)
    rig.executor.events = Recorder(metrics)
    return rig, metrics


async def test_retry_then_fallback(rig: tuple[Rig, Metrics]) -> None:
    r, metrics = rig
    r.transport.script("alpha-small", Status(500), Status(500))
    r.transport.script("beta-small", answer("beta-small", False))
    await drain(await r.run("smart"))
    found = read(metrics)
    assert value(found, "turnout_retries_total", channel="alpha", model="small") == 1
    assert value(found, "turnout_fallbacks_total", alias="smart", channel="beta", model="small") == 1
    assert value(found, "turnout_hedges_total", alias="smart", channel="beta", model="small") == 0


async def test_hedge(rig: tuple[Rig, Metrics]) -> None:
    r, metrics = rig
    slow = openai_wire.stream_frames(["slow"], "slow-steady")
    r.transport.script("slow-steady", Sse(slow, delay_s=[0.4, 0, 0, 0]))
    r.transport.script("alpha-small", answer("alpha-small", True, "quick"))
    await drain(await r.run("racing", stream=True))
    found = read(metrics)
    assert value(found, "turnout_hedges_total", alias="racing", channel="alpha", model="small") == 1
    assert value(found, "turnout_fallbacks_total", alias="racing", channel="alpha", model="small") == 0


async def test_resume(rig: tuple[Rig, Metrics]) -> None:
    r, metrics = rig
    head = openai_wire.stream_frames(["one ", "two "], "alpha-small", done=False)[:3]
    r.transport.script("alpha-small", Sse(head, cut=True))
    r.transport.script("alpha-big", Sse(openai_wire.stream_frames(["three"], "alpha-big")))
    await drain(await r.run("smart", stream=True, resume=True))
    found = read(metrics)
    assert value(found, "turnout_resumes_total", alias="smart", channel="alpha", model="big") == 1


def test_refresh_writes_state_gauges(policy: CompiledPolicy) -> None:
    metrics = Metrics()
    recorder = Recorder(metrics)
    recorder.refresh(policy, False, [("alpha", "small", "open"), ("beta", "small", "closed")], (7, 0))
    found = read(metrics)
    assert value(found, "turnout_breaker_state", channel="alpha", model="small") == 2
    assert value(found, "turnout_breaker_state", channel="beta", model="small") == 0
    assert value(found, "turnout_policy_info", version=policy.version) == 1
    assert value(found, "turnout_usage_log_queue_rows") == 7
    newer = load(
        Path(os.environ.get("TMPDIR", "/tmp")) / f"turnout-metrics-{os.getpid()}", retry="[retry]\nattempts = 3\n"
    )
    recorder.refresh(newer, True, [("alpha", "small", "half-open")], (0, 5))
    recorder.refresh(newer, True, [("alpha", "small", "half-open")], (0, 5))  # nothing new dropped
    found = read(metrics)
    assert value(found, "turnout_policy_info", version=policy.version) == 0
    assert value(found, "turnout_policy_info", version=newer.version) == 1
    assert value(found, "turnout_policy_reload_failing") == 1
    assert value(found, "turnout_breaker_state", channel="alpha", model="small") == 1
    assert value(found, "turnout_usage_log_dropped_rows_total") == 5


def test_shared_directory_is_made_emptied_and_removed(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    made = multiproc.prepare(environ)
    assert made.owned and Path(environ[multiproc.ENV]) == made.path and made.path.is_dir()
    multiproc.cleanup(made)
    assert not made.path.exists()

    given = tmp_path / "shared"
    given.mkdir()
    (given / "counter_1.db").write_bytes(b"old")
    (given / "notes.txt").write_text("kept")
    kept = multiproc.prepare({multiproc.ENV: str(given)})
    assert not kept.owned and not (given / "counter_1.db").exists() and (given / "notes.txt").exists()
    multiproc.cleanup(kept)
    assert given.exists()


def test_dead_workers_leave_the_live_sums(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    for name in (f"gauge_livesum_{dead_pid}.db", f"gauge_livesum_{os.getpid()}.db", f"counter_{dead_pid}.db"):
        (tmp_path / name).write_bytes(b"")
    assert multiproc.forget_dead_workers(tmp_path) == [dead_pid]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"gauge_livesum_{os.getpid()}.db", f"counter_{dead_pid}.db"]  # totals of dead workers stay
    )


def test_the_cli_does_not_import_prometheus_client() -> None:
    """``serve`` names the shared directory before prometheus_client is first imported
    (the library decides its mode then)."""
    code = "import sys, engine.cli; print('prometheus_client' in sys.modules)"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"


def test_the_core_runs_without_opentelemetry() -> None:
    """With the otel packages unimportable, the app imports and tracing configured by the
    environment is off, with a warning naming the extra."""
    code = """
import sys
for name in [m for m in sys.modules if m.startswith("opentelemetry")]:
    del sys.modules[name]
sys.modules["opentelemetry"] = None  # every import of it fails
import logging
logging.basicConfig(level="WARNING", format="%(message)s")
import engine.http.app
from engine.observability.tracing import Tracing
print(Tracing.from_environment({"OTEL_TRACES_EXPORTER": "console"}))
print(Tracing.from_environment({}))
"""
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["None", "None"]
    assert "pip install 'turnout[otel]'" in ran.stderr


def test_in_flight_counts_are_published_by_refresh(policy: CompiledPolicy) -> None:
    metrics = Metrics()
    recorder = Recorder(metrics)
    recorder.arrived("openai")
    recorder.arrived("openai")
    recorder.arrived("anthropic")
    recorder.stream_opened("openai")
    recorder.refresh(policy, False, [], None)
    found = read(metrics)
    assert value(found, "turnout_requests_in_flight", format="openai") == 2
    assert value(found, "turnout_requests_in_flight", format="anthropic") == 1
    assert value(found, "turnout_streams_in_flight", format="openai") == 1
    recorder.stream_closed("openai")
    recorder.refresh(policy, False, [], None)
    assert value(read(metrics), "turnout_streams_in_flight", format="openai") == 0
