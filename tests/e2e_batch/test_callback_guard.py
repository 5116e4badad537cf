"""Callback targets are guarded like fetched images: loopback, private and link-local
addresses are refused at submission (and again when connecting), unless the operator
allows them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from engine.batch.callback import CallbackSender, check_target
from engine.errors import BadRequest
from tests.e2e_batch.conftest import POLICY
from tests.e2e_batch.servers import CallbackReceiver, EchoUpstream
from tests.e2e_keys.deployment import deployment
from tests.support.gateway import GatewayProcess

REFUSED = [
    "http://127.0.0.1:9/hook",
    "http://localhost:9/hook",
    "http://[::1]:9/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/hook",
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: EchoUpstream) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("callback-guard")
    with deployment(root, POLICY.format(base=upstream.base_url)).start() as running:  # private targets not allowed
        yield running


@pytest.mark.parametrize("url", REFUSED)
def test_private_targets_are_refused_at_submission(gateway: GatewayProcess, url: str) -> None:
    request = {"custom_id": "a", "model": "batch-model", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(f"{gateway.base_url}/v1/batch", json={"requests": [request], "callback_url": url})
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert "loopback, private or link-local" in message and "TURNOUT_BATCH_CALLBACK_ALLOW_PRIVATE" in message
    assert httpx.get(f"{gateway.base_url}/v1/batch").json()["data"] == []  # nothing was stored


@pytest.mark.parametrize("url", REFUSED)
async def test_the_check_refuses_private_targets_unless_allowed(url: str) -> None:
    with pytest.raises(BadRequest, match="loopback, private or link-local"):
        await check_target(url, allow_private=False)
    await check_target(url, allow_private=True)


async def test_the_sender_does_not_connect_to_a_private_target() -> None:
    with CallbackReceiver() as receiver:
        sender = CallbackSender(allow_private=False)
        try:
            error = await sender.send(receiver.url, "whsec_test", b"{}")
        finally:
            await sender.close()
        assert error is not None and "loopback, private or link-local" in error
        assert receiver.received() == []
        allowed = CallbackSender(allow_private=True)
        try:
            assert await allowed.send(receiver.url, "whsec_test", b"{}") is None
        finally:
            await allowed.close()
        assert len(receiver.received()) == 1
