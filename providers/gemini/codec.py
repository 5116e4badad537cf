"""The Gemini client codec (format ``"gemini"``): Gemini clients talking to the gateway.

Requests arrive at ``POST /v1beta/models/{model}:generateContent`` or
``:streamGenerateContent`` (``model`` and ``stream`` come from the path) and are decoded
per ``request_decoding``; responses, streams and errors are encoded per
``response_encoding``, ``stream_encoding`` and ``error_body``.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import ChatRequest, ChatResponse
from engine.errors import GatewayError
from providers.gemini.error_body import encode_error
from providers.gemini.request_decoding import decode_request
from providers.gemini.response_encoding import encode_response
from providers.gemini.stream_encoding import GeminiStreamEncoder


class GeminiCodec:
    format = "gemini"

    def decode_request(self, body: Any, *, model: str | None = None, stream: bool | None = None) -> ChatRequest:
        return decode_request(body, model=model, stream=stream)

    def encode_response(self, response: ChatResponse, request: ChatRequest) -> bytes:
        return orjson.dumps(encode_response(response))

    def stream_encoder(self, request: ChatRequest) -> GeminiStreamEncoder:
        return GeminiStreamEncoder(request.model)

    def encode_error(self, err: GatewayError) -> bytes:
        return encode_error(err)
