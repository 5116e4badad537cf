"""A remote image bound for an upstream that only takes inline bytes (Gemini) is fetched by
the gateway, which never fetches from private or loopback addresses: the client gets a
clear 400 naming the URL, and the upstream is never called."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.conftest import StartGateway
from tests.support.fake_upstream import FakeUpstream

POLICY = """
[channels.google]
format = "gemini"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "seer" = "gemini-seer" }}

[models.seer]
price = {{ input = 1.0, output = 2.0 }}
context_window = 100000
capabilities = ["vision"]
"""


def test_a_private_image_url_is_refused_before_any_upstream_call(launch: StartGateway, fake_a: FakeUpstream) -> None:
    gateway = launch(POLICY.format(base=fake_a.base_url))
    with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="unused", max_retries=0) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.chat.completions.create(
                model="seer",
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/cat.png"}},
                        ],
                    }
                ],
            )
    assert "http://127.0.0.1:9/cat.png" in caught.value.message
    assert "non-public address" in caught.value.message
    assert fake_a.requests == []
