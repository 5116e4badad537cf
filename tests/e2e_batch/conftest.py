"""Fixtures of the batch end-to-end tests: the echo upstream (one for the package, reset
before each test) and a deployment writer. Modules start their own gateways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e_batch.servers import EchoUpstream
from tests.e2e_keys.deployment import Deployment, deployment
from tests.e2e_keys.waiting import wait_until

PRICE_IN, PRICE_OUT = 2, 8  # USD per 1M tokens = micro-USD per token
POLICY = """
[channels.echo]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "batch-model" = "up-batch", "thrifty-model" = "up-thrifty" }}

[models.batch-model]
price = {{ input = 2, output = 8 }}
context_window = 100000

[models.thrifty-model]
price = {{ input = 2, output = 8, batch_discount = 0.25 }}
context_window = 100000

[groups.default]
models = ["*"]
"""


@pytest.fixture(scope="package")
def upstream() -> Iterator[EchoUpstream]:
    with EchoUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_upstream(upstream: EchoUpstream) -> None:
    upstream.reset()


def batch_deployment(root: Path, upstream: EchoUpstream, **env: str) -> Deployment:
    return deployment(
        root, POLICY.format(base=upstream.base_url), {"TURNOUT_BATCH_CALLBACK_ALLOW_PRIVATE": "true", **env}
    )


def wait_closed(base_url: str) -> None:
    """Until the first key created ends open mode (within a second), anonymous calls pass."""
    wait_until(lambda: httpx.get(f"{base_url}/v1/batch").status_code == 401, what="the gateway to close")
