"""The Anthropic Messages client codec (ingress): ``format = "anthropic"``.

Decodes ``POST /v1/messages`` bodies (``request_decoder``), encodes responses
(``response_encoder``), streams (``stream_encoder``) and errors
(``{"type": "error", "error": {"type", "message"}}``, HTTP status ``err.status``), and
serves ``/v1/messages/count_tokens`` (``count_tokens``: an estimate unless the pipeline
asks an Anthropic upstream through ``AnthropicAdapter.build_count_tokens_request``).
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import ChatRequest, ChatResponse
from engine.errors import GatewayError
from providers.anthropic.count_tokens import (
    count_tokens,
    decode_count_tokens_request,
    encode_count_tokens,
)
from providers.anthropic.error_body import error_body
from providers.anthropic.request_decoder import decode_request
from providers.anthropic.response_encoder import encode_message
from providers.anthropic.stream_encoder import AnthropicStreamEncoder
from providers.anthropic.wire import FORMAT


class AnthropicCodec:
    format = FORMAT
    output_cap_field = "max_tokens"

    def decode_request(self, body: Any, *, model: str | None = None, stream: bool | None = None) -> ChatRequest:
        return decode_request(body, model=model, stream=stream)

    def encode_response(self, response: ChatResponse, request: ChatRequest) -> bytes:
        return encode_message(response)

    def stream_encoder(self, request: ChatRequest) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder()

    def encode_error(self, err: GatewayError) -> bytes:
        return orjson.dumps(error_body(err))

    def decode_count_tokens_request(self, body: Any, *, model: str | None = None) -> ChatRequest:
        """A count_tokens body: a Messages body where ``max_tokens`` is not required."""
        return decode_count_tokens_request(body)

    def count_tokens(self, request: ChatRequest) -> int:
        """The local estimate (see ``providers.anthropic.count_tokens``)."""
        return count_tokens(request)

    def encode_count_tokens(self, input_tokens: int) -> bytes:
        return encode_count_tokens(input_tokens)
