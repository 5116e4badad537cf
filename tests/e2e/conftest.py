"""E2E fixtures: two fake upstreams and the core gateway, started once for the whole
directory (a gateway start costs about a second); the fakes are reset before every test.
Modules that need their own settings or policy start one with ``launch``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import openai
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess, start_gateway
from tests.support.policy_files import write_policy

FAKE_KEY = "sk-fake-upstream-secret"
BODY_LIMIT = 256 * 1024

StartGateway = Callable[..., GatewayProcess]

# Two channels on two fakes: "primary" (A) is tried before "backup" (B) for small-model.
# solo-model has a single channel (so its failures reach the client); orphan-model's
# only channel has no key (so nothing can serve it). The breaker never opens, so one
# test's failures do not change another's route.
CORE_POLICY = """
[channels.primary]
format = "openai"
base_url = "{a}"
api_key = "${{FAKE_KEY}}"
priority = 0
models = {{ "big-model" = "upstream-big", "small-model" = "upstream-small", "solo-model" = "upstream-solo" }}
timeout = {{ connect = 2, first_byte = 0.5, total = 30, idle = 2 }}

[channels.backup]
format = "openai"
base_url = "{b}"
api_key = "${{FAKE_KEY}}"
priority = 1
models = ["small-model"]
timeout = {{ connect = 2, first_byte = 0.5, total = 30, idle = 2 }}

[channels.keyless]
format = "openai"
base_url = "{b}"
api_key = "${{E2E_UNSET_UPSTREAM_KEY}}"
models = ["orphan-model"]

[models.big-model]
price = {{ input = 1.0, output = 2.0 }}
context_window = 200000
capabilities = ["tools", "vision", "json"]

[models.small-model]
price = {{ input = 0.1, output = 0.2 }}
context_window = 8000
capabilities = ["tools", "json"]

[models.solo-model]
price = {{ input = 0.5, output = 0.5 }}
context_window = 8000

[models.orphan-model]
context_window = 8000

[aliases.smart]
rules = [ {{ when = "request.has_tools", use = ["big-model"] }}, {{ when = "true", use = ["small-model"] }} ]
fallback = ["big-model"]

[retry]
on = [429, 500, 502, 503, 504, "timeout", "connect"]
attempts = 2
backoff = {{ base = 0.05, max = 0.5 }}

[breaker]
failures = 1000
cooldown = 0
"""


def core_policy(fake_a: FakeUpstream, fake_b: FakeUpstream) -> str:
    return CORE_POLICY.format(a=fake_a.base_url, b=fake_b.base_url)


@pytest.fixture(scope="package")
def fake_a() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="package")
def fake_b() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_fakes(request: pytest.FixtureRequest) -> None:
    for name in ("fake_a", "fake_b"):
        if name in request.fixturenames:
            fake = request.getfixturevalue(name)
            assert isinstance(fake, FakeUpstream)
            fake.reset()


def _start(
    factory: pytest.TempPathFactory, policy: str, env: Mapping[str, str] | None = None, workers: int = 1
) -> GatewayProcess:
    root = factory.mktemp("gateway")
    policy_dir = root / "policies"
    write_policy(policy_dir, policy)
    return start_gateway(policy_dir, {"FAKE_KEY": FAKE_KEY, **(env or {})}, workers=workers, workdir=root / "work")


@pytest.fixture(scope="package")
def core_gateway(
    tmp_path_factory: pytest.TempPathFactory, fake_a: FakeUpstream, fake_b: FakeUpstream
) -> Iterator[GatewayProcess]:
    gateway = _start(tmp_path_factory, core_policy(fake_a, fake_b), {"TURNOUT_BODY_LIMIT": str(BODY_LIMIT)})
    yield gateway
    gateway.stop()


@pytest.fixture
def client(core_gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    """The official SDK pointed at the core gateway, without SDK-side retries."""
    with openai.OpenAI(base_url=f"{core_gateway.base_url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartGateway]:
    """``launch(policy_toml, env=None, workers=1) -> GatewayProcess``: write the policy to
    a fresh directory and start a gateway on it (stopped when the module ends).
    ``FAKE_KEY`` is always in the gateway's environment."""
    started: list[GatewayProcess] = []

    def start(policy: str, env: Mapping[str, str] | None = None, workers: int = 1) -> GatewayProcess:
        gateway = _start(tmp_path_factory, policy, env, workers)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()
