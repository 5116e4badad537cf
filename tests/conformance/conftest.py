"""Conformance fixtures: one fake per upstream format, ONE gateway for the whole directory
(one channel and one public model ``via-<format>`` per upstream format), the four official
SDKs pointed at it, and the hooks that feed the matrix ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.case import Case, public_model
from tests.conformance.clients import ClosableDriver, all_drivers
from tests.conformance.ledger import ledger_of
from tests.conformance.matrix import MARKER, REPORT_MARKER, UPSTREAMS
from tests.conformance.vendors import Vendor, all_vendors
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess, start_gateway
from tests.support.policy_files import write_policy

FAKE_KEY = "sk-conformance-upstream-secret"

CHANNEL = """
[channels.{name}]
format = "{format}"
base_url = "{base_url}"
api_key = "${{FAKE_KEY}}"
models = {{ "{public}" = "{upstream_model}" }}
timeout = {{ connect = 2, first_byte = 20, total = 60, idle = 20 }}

[models.{public}]
context_window = 1000000
capabilities = ["tools", "vision", "json", "reasoning", "stream"]
"""

SETTINGS = """
[retry]
on = []
attempts = 1

[breaker]
failures = 100000
cooldown = 0
"""


def policy_toml(vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]) -> str:
    channels = [
        CHANNEL.format(
            name=f"up-{fmt}",
            format=fmt,
            base_url=fakes[fmt].base_url,
            public=public_model(fmt),
            upstream_model=vendors[fmt].upstream_model,
        )
        for fmt in UPSTREAMS
    ]
    return "".join(channels) + SETTINGS


# ---- hooks: the ledger, and the README test last ------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(capability): a test of one conformance-matrix cell per pair")
    config.addinivalue_line("markers", f"{REPORT_MARKER}: runs after every matrix cell (reads the ledger)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ledger = ledger_of(config)
    for item in items:
        ledger.file(item)
    last = [item for item in items if item.get_closest_marker(REPORT_MARKER)]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker(REPORT_MARKER)] + last


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    assert isinstance(report, pytest.TestReport)
    ledger_of(item.config).record(report)
    return report


# ---- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="package")
def vendors() -> dict[str, Vendor]:
    return all_vendors()


@pytest.fixture(scope="package")
def fakes(vendors: dict[str, Vendor]) -> Iterator[dict[str, FakeUpstream]]:
    started = {fmt: FakeUpstream(prefix=vendors[fmt].prefix).start() for fmt in UPSTREAMS}
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture(scope="package")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]
) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("conformance")
    write_policy(root / "policies", policy_toml(vendors, fakes))
    process = start_gateway(root / "policies", {"FAKE_KEY": FAKE_KEY}, workdir=root / "work")
    yield process
    process.stop()


@pytest.fixture(scope="package")
def drivers(gateway: GatewayProcess) -> Iterator[dict[str, ClosableDriver]]:
    made = all_drivers(gateway.base_url)
    yield made
    for driver in made.values():
        driver.close()


@pytest.fixture
def case(
    pair: tuple[str, str],
    drivers: dict[str, ClosableDriver],
    vendors: dict[str, Vendor],
    fakes: dict[str, FakeUpstream],
) -> Case:
    client, upstream = pair
    for fake in fakes.values():
        fake.reset()
    return Case(drivers[client], vendors[upstream], fakes[upstream], public_model(upstream))
