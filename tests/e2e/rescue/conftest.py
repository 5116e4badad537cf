"""Fixtures of the rescue suite: one fault-injecting upstream and one gateway on the rescue
policy for the whole directory (the fake is reset before every test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.rescue.clients import Clients
from tests.e2e.rescue.site import Site, open_site
from tests.support.fault_upstream import FaultUpstream


@pytest.fixture(scope="package")
def fault() -> Iterator[FaultUpstream]:
    with FaultUpstream(keepalive_s=0.1, hang_s=20.0) as fake:
        yield fake


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory, fault: FaultUpstream) -> Iterator[Site]:
    opened = open_site(tmp_path_factory.mktemp("rescue"), fault.base_url)
    yield opened
    opened.close()


@pytest.fixture
def clients(site: Site) -> Clients:
    return site.clients


@pytest.fixture(autouse=True)
def _fresh_fake(fault: FaultUpstream) -> None:
    fault.reset()
