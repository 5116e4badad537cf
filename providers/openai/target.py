"""Where an OpenAI chat request goes: the URL and HTTP headers for one endpoint.

Shared by the translating adapter and the passthrough. ``Authorization: Bearer`` is sent
only when the channel has a key; channel headers (e.g. Azure's ``api-key``) are applied last.
"""

from __future__ import annotations

from providers.base import Endpoint


def chat_url(endpoint: Endpoint) -> str:
    return f"{endpoint.base_url}/chat/completions"


def request_headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if endpoint.api_key is not None:
        headers["authorization"] = f"Bearer {endpoint.api_key}"
    headers.update(endpoint.headers)
    return headers
