"""The Gemini client codec (format ``"gemini"``): Gemini clients talking to the gateway.

Requests arrive at ``POST /v1beta/models/{model}:generateContent`` or
``:streamGenerateContent`` (``model`` and ``stream`` come from the path) and are decoded
per ``request_decoder``; responses, streams and errors are encoded per
``response_encoder``, ``stream_encoder`` and ``error_body``. Streams are ``alt=sse``
frames; a client that did not ask for ``alt=sse`` gets them reframed as the REST default,
one JSON array (``json_array``, the ``StreamReframing`` capability).
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import ChatRequest, ChatResponse
from engine.errors import GatewayError
from providers.gemini import json_array
from providers.gemini.error_body import error_body
from providers.gemini.models_list import encode_count_tokens
from providers.gemini.request_decoder import decode_request
from providers.gemini.response_encoder import encode_response
from providers.gemini.stream_encoder import GeminiStreamEncoder
from providers.gemini.wire import FORMAT


class GeminiCodec:
    format = FORMAT
    output_cap_field = "generationConfig.maxOutputTokens"

    def decode_request(self, body: Any, *, model: str | None = None, stream: bool | None = None) -> ChatRequest:
        return decode_request(body, model=model, stream=stream)

    def encode_response(self, response: ChatResponse, request: ChatRequest) -> bytes:
        return orjson.dumps(encode_response(response))

    def stream_encoder(self, request: ChatRequest) -> GeminiStreamEncoder:
        return GeminiStreamEncoder(request.model)

    def encode_error(self, err: GatewayError) -> bytes:
        return orjson.dumps(error_body(err))

    # StreamReframing: ``:streamGenerateContent`` without ``alt=sse`` is one JSON array
    stream_media_type = json_array.MEDIA_TYPE

    def stream_reframer(self) -> json_array.JsonArrayStream:
        return json_array.JsonArrayStream()

    def reframe_error(self, body: bytes) -> bytes:
        return json_array.error_array(body)

    def decode_count_tokens_request(self, body: Any, *, model: str | None = None) -> ChatRequest:
        """A ``countTokens`` body: ``contents`` (and the rest) directly, or wrapped in
        ``generateContentRequest``."""
        inner = body.get("generateContentRequest", body) if isinstance(body, dict) else body
        return decode_request(inner, model=model, stream=False)

    def encode_count_tokens(self, input_tokens: int) -> bytes:
        return encode_count_tokens(input_tokens)
