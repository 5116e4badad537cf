"""The official SDKs configured the shortest documented way: only the base URL changed.

Not a matrix cell: the matrix drives google-genai with ``api_version="v1beta"`` explicitly
so that it can check the Gemini format itself; this test pins the SDK's own default
(google-genai >= 3 posts to ``/v1/models/{model}:generateContent``, which the gateway
serves as the Gemini format too).
"""

from __future__ import annotations

from google import genai

from tests.conformance.case import public_model
from tests.conformance.vendors import Vendor
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess


def test_google_genai_with_only_a_base_url(
    gateway: GatewayProcess, vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]
) -> None:
    gemini, fake = vendors["gemini"], fakes["gemini"]
    fake.reset()
    scripted = gemini.text(stream=False)
    fake.script(gemini.upstream_model, scripted.reply)
    with genai.Client(api_key="gemini-conformance", http_options={"base_url": gateway.base_url}) as sdk:
        response = sdk.models.generate_content(model=public_model("gemini"), contents="How many r's in strawberry?")
    assert response.text == scripted.expected.text
