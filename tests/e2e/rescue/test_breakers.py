"""Breakers through the real gateway: a flapping primary is cooled down while its fallback
serves, and gets traffic back after its cooldown through the half-open probe; when every
candidate of a request is cooling down, ``[breaker] panic`` (the default) tries the one
whose cooldown ends first instead of refusing untried.

Each gateway here opens a breaker after two consecutive failures of a model on a channel
(with two tries per candidate: one request's retry opens it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.rescue.cases import FULL, attempt, failures, upstream
from tests.e2e.rescue.clients import refused
from tests.e2e.rescue.site import Site, open_site
from tests.e2e_keys.waiting import wait_until
from tests.support.fault_upstream import FaultUpstream


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, fault: FaultUpstream) -> Iterator[Site]:
    """Breakers cool down for 1.5 seconds."""
    site = open_site(tmp_path_factory.mktemp("quick-breakers"), fault.base_url, breaker_failures=2, cooldown=1.5)
    yield site
    site.close()


def _cooling(factory: pytest.TempPathFactory, fault: FaultUpstream, *, panic: bool) -> Site:
    """Breakers that cool down for a minute (longer than any test), with ``panic`` on or off."""
    return open_site(factory.mktemp("cooling-breakers"), fault.base_url, breaker_failures=2, cooldown=60.0, panic=panic)


@pytest.fixture(scope="module")
def panicking(tmp_path_factory: pytest.TempPathFactory, fault: FaultUpstream) -> Iterator[Site]:
    site = _cooling(tmp_path_factory, fault, panic=True)
    yield site
    site.close()


@pytest.fixture(scope="module")
def unpanicked(tmp_path_factory: pytest.TempPathFactory, fault: FaultUpstream) -> Iterator[Site]:
    site = _cooling(tmp_path_factory, fault, panic=False)
    yield site
    site.close()


def statuses(fault: FaultUpstream, public: str) -> list[int | None]:
    return [r.status for r in fault.wait_idle() if r.model == upstream(public)]


def test_a_flapping_primary_cools_down_while_the_fallback_serves_and_is_probed_back_in(
    quick: Site, fault: FaultUpstream
) -> None:
    clients = quick.clients
    down = clients.chat("flapping", stream=False)  # 503, retried, 503: the breaker opens
    assert (down.model, down.text) == ("backup", FULL)
    assert failures(down) == [attempt("flap", "503")] * 2
    assert quick.breaker("oa", "flap") == "open"

    cooling = clients.messages("flapping", stream=True)  # the fallback serves meanwhile
    assert cooling.model == "backup" and cooling.error is None and cooling.tried() == []
    assert statuses(fault, "flap") == [503, 503]  # not asked while it cools down

    wait_until(lambda: quick.breaker("oa", "flap") == "half-open", what="the cooldown to end")
    probe = clients.chat("flapping", stream=True)  # the one probe goes to the primary, which is back
    assert probe.model == "flap" and probe.error is None and probe.tried() == []
    # the verdict comes when the gateway has read the upstream's end, a moment after the client's
    wait_until(lambda: quick.breaker("oa", "flap") == "closed", what="the probe's success to close the breaker")
    back = clients.messages("flapping", stream=False)
    assert back.model == "flap"

    again = clients.chat("flapping", stream=False)  # it flaps down again: cooled down again
    assert again.model == "backup" and failures(again) == [attempt("flap", "503")] * 2
    assert quick.breaker("oa", "flap") == "open"
    assert statuses(fault, "flap") == [503, 503, 200, 200, 503, 503]
    assert statuses(fault, "backup") == [200, 200, 200]


def cool_down_lonely(site: Site) -> None:
    """Open the breaker of ``lonely``'s only model: 503, retried, 503."""
    first = refused(site.clients, "openai", "lonely", stream=False)
    assert first.status == 502 and first.tried() == [attempt("lone", "503")] * 2
    assert site.breaker("oa", "lone") == "open"


def test_when_every_candidate_cools_down_panic_tries_the_one_that_reopens_first(
    panicking: Site, fault: FaultUpstream
) -> None:
    cool_down_lonely(panicking)
    got = panicking.clients.messages("lonely", stream=True)  # tried anyway, a minute before its probe was due
    assert (got.model, got.text, got.error) == ("lone", FULL, None)
    assert statuses(fault, "lone") == [503, 503, 200]
    wait_until(lambda: panicking.breaker("oa", "lone") == "closed", what="its success to close the breaker")


def test_without_panic_a_request_whose_candidates_all_cool_down_is_refused_untried(
    unpanicked: Site, fault: FaultUpstream
) -> None:
    cool_down_lonely(unpanicked)
    error = refused(unpanicked.clients, "anthropic", "lonely", stream=True)
    assert (error.status, error.sdk_error) == (503, "ServiceUnavailableError")
    assert "lone@oa: cooling down (breaker open)" in error.message
    assert int(error.headers["retry-after"]) >= 1  # when the breaker lets a probe through
    assert statuses(fault, "lone") == [503, 503]  # the upstream was not asked
    assert unpanicked.breaker("oa", "lone") == "open"
