"""The "openai" upstream adapter: canonical requests to OpenAI(-compatible) chat completions.

A thin seam over ``request_encoder`` (``ChatRequest`` -> body), ``response_decoder``,
``stream_decoder`` and ``error_classifier``; ``target`` gives the URL and headers.
Stateless and pure; one instance can serve every request.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from engine.canonical import ChatRequest, ChatResponse
from engine.errors import UpstreamError
from providers.base import Endpoint, UpstreamRequest
from providers.openai.error_classifier import classify_http_error
from providers.openai.request_encoder import encode_chat_request
from providers.openai.response_decoder import decode_chat_response
from providers.openai.stream_decoder import OpenAIChatStreamDecoder
from providers.openai.target import chat_url, request_headers
from providers.openai.wire import FORMAT


class OpenAIChatAdapter:
    format = FORMAT
    inline_images_only = False

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        body = encode_chat_request(request, endpoint)
        return UpstreamRequest(
            method="POST", url=chat_url(endpoint), headers=request_headers(endpoint), body=orjson.dumps(body)
        )

    def decode_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        return decode_chat_response(body, endpoint.upstream_model)

    def stream_decoder(self, endpoint: Endpoint) -> OpenAIChatStreamDecoder:
        return OpenAIChatStreamDecoder(endpoint.upstream_model)

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return classify_http_error(status, headers, body)
