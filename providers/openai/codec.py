"""The "openai" client codec: OpenAI chat-completions in, OpenAI chat-completions out.

A thin seam over the single-purpose modules: ``request_decoder`` (body -> ``ChatRequest``),
``response_encoder`` (``ChatResponse`` -> ``chat.completion``), ``stream_encoder``
(events -> ``chat.completion.chunk`` frames) and ``error_body`` (the error envelope).
Stateless; one instance can serve every request.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import ChatRequest, ChatResponse
from engine.errors import GatewayError
from providers.openai.error_body import error_body
from providers.openai.request_decoder import decode_chat_request
from providers.openai.response_encoder import encode_chat_response
from providers.openai.stream_encoder import OpenAIChatStreamEncoder
from providers.openai.wire import FORMAT


class OpenAIChatCodec:
    format = FORMAT
    output_cap_field = "max_tokens"

    def decode_request(self, body: Any, *, model: str | None = None, stream: bool | None = None) -> ChatRequest:
        return decode_chat_request(body, model=model, stream=stream)

    def encode_response(self, response: ChatResponse, request: ChatRequest) -> bytes:
        return encode_chat_response(response)

    def stream_encoder(self, request: ChatRequest) -> OpenAIChatStreamEncoder:
        return OpenAIChatStreamEncoder(include_usage=request.include_usage)

    def encode_error(self, err: GatewayError) -> bytes:
        return orjson.dumps(error_body(err))
