"""The Anthropic Messages upstream adapter (egress): ``format = "anthropic"``.

``POST {base_url}/messages`` (``base_url`` like ``https://api.anthropic.com/v1``) with
``x-api-key``, ``anthropic-version: 2023-06-01`` and ``content-type``; the channel's own
``endpoint.headers`` (an ``anthropic-beta`` list, a proxy's auth) are applied last.
The body rules live in ``request_encoder``; decoding in ``response_decoder`` and
``stream_decoder``; error classification in ``error_classifier``. ``clock`` stamps
``created`` (Anthropic responses carry no timestamp).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import orjson

from engine.canonical import ChatRequest, ChatResponse
from engine.errors import UpstreamError
from providers.anthropic.count_tokens import (
    count_tokens_body,
    decode_count_tokens_response,
)
from providers.anthropic.error_classifier import classify_error
from providers.anthropic.request_encoder import build_body
from providers.anthropic.response_decoder import decode_message
from providers.anthropic.stream_decoder import AnthropicStreamDecoder
from providers.anthropic.wire import ANTHROPIC_VERSION, FORMAT
from providers.base import Endpoint, UpstreamRequest


class AnthropicAdapter:
    format = FORMAT
    inline_images_only = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        body = orjson.dumps(build_body(request, endpoint))
        return UpstreamRequest("POST", f"{endpoint.base_url}/messages", _headers(endpoint), body)

    def decode_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        return decode_message(body, int(self._clock()))

    def stream_decoder(self, endpoint: Endpoint) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(self._clock)

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return classify_error(status, headers, body)

    def build_count_tokens_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        """The exact count from Anthropic (``POST {base_url}/messages/count_tokens``)."""
        body = count_tokens_body(request, endpoint)
        return UpstreamRequest("POST", f"{endpoint.base_url}/messages/count_tokens", _headers(endpoint), body)

    def decode_count_tokens_response(self, body: bytes) -> int:
        return decode_count_tokens_response(body)


def _headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
    if endpoint.api_key is not None:
        headers["x-api-key"] = endpoint.api_key
    headers.update(endpoint.headers)
    return headers
