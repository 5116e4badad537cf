"""The Responses API as an upstream: ``ResponsesAdapter`` (channel format ``"openai-responses"``).

``POST {base_url}/responses`` with ``Authorization: Bearer <key>``; the body comes from
``request_encoder``, responses and streams are read by ``response_decoder`` and
``stream_decoder``, failures classified by ``error_classifier``. Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from engine.canonical import ChatRequest, ChatResponse
from engine.errors import UpstreamError
from providers.base import Endpoint, UpstreamRequest
from providers.openai_responses.error_classifier import classify_http
from providers.openai_responses.request_encoder import encode_request
from providers.openai_responses.response_decoder import decode_response
from providers.openai_responses.stream_decoder import ResponsesStreamDecoder
from providers.openai_responses.wire import FORMAT


def request_headers(endpoint: Endpoint, stream: bool) -> dict[str, str]:
    """JSON, SSE when streaming, the key as a Bearer token, then the channel's own headers."""
    headers = {"Content-Type": "application/json"}
    if stream:
        headers["Accept"] = "text/event-stream"
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    headers.update(endpoint.headers)
    return headers


class ResponsesAdapter:
    format = FORMAT
    inline_images_only = False

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        body = encode_request(request, endpoint.upstream_model, dict(endpoint.params))
        headers = request_headers(endpoint, request.stream)
        return UpstreamRequest("POST", f"{endpoint.base_url}/responses", headers, orjson.dumps(body))

    def decode_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        return decode_response(body)

    def stream_decoder(self, endpoint: Endpoint) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder()

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return classify_http(status, headers, body)
