"""A rotated secret applies without a restart: a channel's key read from a file
(``${file:...}``, as a mounted Kubernetes Secret) or from the ``.env`` file in the server's
working directory is read again when it changes, and the next request carries the new key."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess, start_gateway
from tests.support.policy_files import write_policy

POLICY = """
[channels.from_file]
format = "openai"
base_url = "{base}"
api_key = "${{file:{secret}}}"
models = ["file-model"]

[channels.from_dotenv]
format = "openai"
base_url = "{base}"
api_key = "${{DOTENV_KEY}}"
models = ["dotenv-model"]

[models.file-model]
price = {{ input = 0.0, output = 0.0 }}

[models.dotenv-model]
price = {{ input = 0.0, output = 0.0 }}
"""
PICKUP = 10.0  # the watcher polls every second; generous for a loaded machine


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream) -> Iterator[tuple[GatewayProcess, Path]]:
    root = tmp_path_factory.mktemp("secrets")
    secrets = root / "secrets"
    secrets.mkdir()
    (secrets / "v1").mkdir()
    (secrets / "v1" / "openai").write_text("sk-file-first\n")
    os.symlink("v1", secrets / "..data")
    os.symlink("..data/openai", secrets / "openai")
    work = root / "work"
    work.mkdir()
    (work / ".env").write_text("DOTENV_KEY=sk-dotenv-first\n")
    write_policy(root / "policies", POLICY.format(base=fake.base_url, secret=secrets / "openai"))
    gateway = start_gateway(root / "policies", workdir=work)
    try:
        yield gateway, secrets
    finally:
        gateway.stop()


def _key_seen(gateway: GatewayProcess, fake: FakeUpstream, model: str) -> str:
    response = httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return fake.requests[-1].headers["authorization"]


def _wait_for_key(gateway: GatewayProcess, fake: FakeUpstream, model: str, expected: str) -> None:
    deadline = time.monotonic() + PICKUP
    seen = _key_seen(gateway, fake, model)
    while seen != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"still {seen!r}, expected {expected!r}\n{gateway.logs()}")
        time.sleep(0.2)
        seen = _key_seen(gateway, fake, model)


def test_a_secret_file_rotated_by_a_symlink_swap_is_picked_up(
    site: tuple[GatewayProcess, Path], fake: FakeUpstream
) -> None:
    gateway, secrets = site
    assert _key_seen(gateway, fake, "file-model") == "Bearer sk-file-first"
    version = httpx.get(f"{gateway.base_url}/api/status").json()["policy"]["version"]
    (secrets / "v2").mkdir()
    (secrets / "v2" / "openai").write_text("sk-file-second\n")
    os.symlink("v2", secrets / "..data.tmp")
    os.replace(secrets / "..data.tmp", secrets / "..data")  # the kubelet's atomic swap
    _wait_for_key(gateway, fake, "file-model", "Bearer sk-file-second")
    assert httpx.get(f"{gateway.base_url}/api/status").json()["policy"]["version"] == version
    assert "sk-file-" not in gateway.logs()  # the secret itself is never logged


def test_an_edited_dotenv_is_picked_up(site: tuple[GatewayProcess, Path], fake: FakeUpstream) -> None:
    gateway, _ = site
    assert _key_seen(gateway, fake, "dotenv-model") == "Bearer sk-dotenv-first"
    (gateway.workdir / ".env").write_text("DOTENV_KEY=sk-dotenv-second\n")
    _wait_for_key(gateway, fake, "dotenv-model", "Bearer sk-dotenv-second")
    assert "sk-dotenv-" not in gateway.logs()
