"""Breakers are per channel and model: open after consecutive failures, probe, close."""

from engine.policy.compiled import BreakerSpec
from engine.routing.health import Health


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SPEC = BreakerSpec(failures=3, cooldown=10.0)


def test_breaker_opens_after_consecutive_failures_for_that_model_only() -> None:
    clock = Clock()
    health = Health(clock)
    for _ in range(3):
        health.begin("ch", "m1")
        health.failure("ch", "m1", SPEC)
        health.end("ch", "m1")
    assert health.state("ch", "m1") == "open"
    assert not health.available("ch", "m1")
    assert health.available("ch", "m2")  # same channel, other model unaffected


def test_a_success_resets_the_failure_count() -> None:
    health = Health(Clock())
    health.failure("ch", "m", SPEC)
    health.failure("ch", "m", SPEC)
    health.success("ch", "m", 12.0)
    health.failure("ch", "m", SPEC)
    assert health.state("ch", "m") == "closed"


def test_half_open_lets_one_probe_through_and_closes_on_success() -> None:
    clock = Clock()
    health = Health(clock)
    for _ in range(3):
        health.failure("ch", "m", SPEC)
    clock.now += 10.5
    assert health.state("ch", "m") == "half-open"
    assert health.available("ch", "m")
    health.begin("ch", "m")
    assert not health.available("ch", "m")  # the probe is out: nobody else
    health.success("ch", "m", 40.0)
    health.end("ch", "m")
    assert health.state("ch", "m") == "closed"


def test_a_failed_probe_reopens_immediately() -> None:
    clock = Clock()
    health = Health(clock)
    for _ in range(3):
        health.failure("ch", "m", SPEC)
    clock.now += 11
    health.begin("ch", "m")
    health.failure("ch", "m", SPEC)
    assert health.state("ch", "m") == "open"


def test_latency_percentiles_and_in_flight() -> None:
    health = Health(Clock())
    for ms in (10.0, 20.0, 30.0, 40.0, 100.0):
        health.success("ch", "m", ms)
    health.begin("ch", "m")
    view = health.view("ch", "m")
    assert view.p50_ms == 30.0
    assert view.p95_ms == 100.0
    assert view.in_flight == 1
