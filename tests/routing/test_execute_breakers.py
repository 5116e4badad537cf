"""Breakers through the executor: which failures count, the cooldown on a fake clock, the
half-open probe, and how the plan sees it (``[breaker] failures = 3, cooldown = 30``; one
try per candidate here, so each request is one counted outcome)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from engine.errors import AllUpstreamsFailed, GatewayError, NoRoute, UpstreamError
from engine.policy.compiled import CompiledPolicy
from engine.routing.execute import Streaming
from tests.support import openai_wire
from tests.support.executor_rig import Rig, answer, drain, load
from tests.support.scripted_transport import Hang, Raise, Reply, Status

ONCE = '[retry]\non = [429, 500, 502, 503, 504, "timeout", "connect"]\nattempts = 1\n'
CONTEXT_ERROR = openai_wire.error_body(
    "This model's maximum context length is 200000 tokens.", code="context_length_exceeded", param="messages"
)
OK = answer("alpha-big", False)
S500, S429, S401, S400, S404 = Status(500), Status(429), Status(401), Status(400), Status(404)
CONNECT = Raise(UpstreamError("connect", "could not reach the upstream: ClientConnectorError"))


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    return load(tmp_path_factory.mktemp("once"), ONCE)


@pytest.fixture
def rig(policy: CompiledPolicy) -> Rig:
    return Rig(policy)


async def outcomes(rig: Rig, *replies: Reply, stream: bool = False) -> None:
    """One request to ``big`` (big@alpha alone) per reply."""
    for reply in replies:
        rig.transport.script("alpha-big", reply)
        with contextlib.suppress(GatewayError):
            await drain(await rig.run("big", stream=stream))


def planned(rig: Rig, model: str = "smart") -> list[str]:
    return [f"{a.target.model}@{a.target.channel}" for a in rig.route(model).attempts]


async def open_breaker(rig: Rig) -> None:
    await outcomes(rig, S500, S500, S500)
    assert rig.health.state("alpha", "big") == "open"


@pytest.mark.parametrize(
    ("replies", "state"),
    [
        pytest.param([S500] * 3, "open", id="500"),
        pytest.param([S429] * 3, "open", id="429"),
        pytest.param([S401] * 3, "open", id="401-our-credentials"),
        pytest.param([Hang()] * 3, "open", id="timeout"),
        pytest.param([CONNECT] * 3, "open", id="connect"),
        pytest.param([S500] * 2, "closed", id="fewer-than-failures"),
        pytest.param([S400] * 3, "closed", id="400-not-counted"),
        pytest.param([S404] * 3, "closed", id="404-not-counted"),
        pytest.param([Status(400, CONTEXT_ERROR)] * 3, "closed", id="context-length-not-counted"),
        pytest.param([S500, S500, OK, S500, S500], "closed", id="a-success-resets-the-count"),
        pytest.param([S500, S500, S400, S500], "open", id="an-uncounted-failure-does-not-reset"),
    ],
)
async def test_the_breaker_opens_after_failures_consecutive_counted_failures(
    rig: Rig, replies: list[Reply], state: str
) -> None:
    await outcomes(rig, *replies)
    assert rig.health.state("alpha", "big") == state
    if state == "open":
        assert "big@alpha" not in planned(rig)
        assert any(n.reason == "cooling down (breaker open)" and n.channel == "alpha" for n in rig.route("smart").notes)
        with pytest.raises(NoRoute):
            rig.route("big")
    else:
        assert planned(rig, "big") == ["big@alpha"]


async def test_the_breaker_is_per_channel_and_model(rig: Rig) -> None:
    await open_breaker(rig)
    assert rig.health.state("alpha", "small") == "closed"
    assert planned(rig) == ["small@alpha", "small@beta"]


async def test_after_the_cooldown_one_probe_is_let_through_and_its_success_closes_the_breaker(rig: Rig) -> None:
    await open_breaker(rig)
    rig.clock.advance(29.9)
    with pytest.raises(NoRoute):
        rig.route("big")
    rig.clock.advance(0.1)
    assert rig.health.state("alpha", "big") == "half-open"
    assert planned(rig, "big") == ["big@alpha"]
    rig.transport.script("alpha-big", answer("alpha-big", True))
    probe = await rig.run("big", stream=True)
    assert isinstance(probe, Streaming)
    assert not rig.health.available("alpha", "big")  # the probe is out: nobody else is let through
    assert "big@alpha" not in planned(rig)
    await drain(probe)
    assert rig.health.state("alpha", "big") == "closed"
    assert planned(rig) == ["small@alpha", "small@beta", "big@alpha"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_a_failed_probe_reopens_the_breaker_for_another_cooldown(rig: Rig, stream: bool) -> None:
    await open_breaker(rig)
    rig.clock.advance(30)
    await outcomes(rig, S500, stream=stream)
    assert rig.health.state("alpha", "big") == "open"
    assert len(rig.transport.requests_for("alpha-big")) == 4
    rig.clock.advance(29.9)
    assert rig.health.state("alpha", "big") == "open"
    rig.clock.advance(0.1)
    assert rig.health.state("alpha", "big") == "half-open"


async def test_a_retry_still_goes_to_a_pair_whose_breaker_opened_during_the_request(tmp_path: Path) -> None:
    """The executor does not consult breakers: the plan does, once per request. With two
    tries per candidate, the try that opens the breaker is retried on the same pair."""
    rig = Rig(load(tmp_path))  # attempts = 2
    rig.transport.always("alpha-big", Status(500))
    with pytest.raises(AllUpstreamsFailed):
        await rig.run("big")  # failures 1 and 2
    with pytest.raises(AllUpstreamsFailed):
        await rig.run("big")  # failure 3 opens the breaker; the retry is sent anyway
    assert rig.health.state("alpha", "big") == "open"
    assert len(rig.transport.requests_for("alpha-big")) == 4


@pytest.mark.parametrize("reply", [S400, S404, Status(400, CONTEXT_ERROR)], ids=["400", "404", "context-length"])
async def test_a_probe_that_ends_without_a_verdict_frees_the_half_open_slot(rig: Rig, reply: Reply) -> None:
    await open_breaker(rig)
    rig.clock.advance(30)
    await outcomes(rig, reply)
    rig.clock.advance(30)  # however it is freed (at once, or after a cooldown), time has passed
    assert rig.health.available("alpha", "big")
    assert planned(rig, "big") == ["big@alpha"]


async def test_only_one_probe_reaches_a_half_open_pair_when_two_requests_planned_before_it_began(rig: Rig) -> None:
    await open_breaker(rig)
    rig.clock.advance(30)
    first, second = rig.route("big", stream=True), rig.route("big", stream=True)
    rig.transport.always("alpha-big", answer("alpha-big", True))
    probe = await rig.run("big", stream=True, route=first)
    with contextlib.suppress(GatewayError):
        await drain(await rig.run("big", stream=True, route=second))
    await drain(probe)
    assert len(rig.transport.requests_for("alpha-big")) == 4  # three that opened it, one probe
