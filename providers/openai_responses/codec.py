"""The Responses API as a client-facing format: ``ResponsesCodec`` (``"openai-responses"``).

Decoding lives in ``request_decoder`` / ``input_items``, encoding in ``response_encoder``
and ``stream_encoder``, the error envelope in ``error_body``; this class only binds
them to the ``ClientCodec`` protocol.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import ChatRequest, ChatResponse
from engine.errors import GatewayError
from providers.openai_responses import request_decoder, response_encoder
from providers.openai_responses.error_body import error_body
from providers.openai_responses.stream_encoder import ResponsesStreamEncoder
from providers.openai_responses.wire import FORMAT


class ResponsesCodec:
    format = FORMAT
    output_cap_field = "max_output_tokens"

    def decode_request(self, body: Any, *, model: str | None = None, stream: bool | None = None) -> ChatRequest:
        return request_decoder.decode_request(body, model=model, stream=stream)

    def encode_response(self, response: ChatResponse, request: ChatRequest) -> bytes:
        return orjson.dumps(response_encoder.encode_response(response, request))

    def stream_encoder(self, request: ChatRequest) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder(request)

    def encode_error(self, err: GatewayError) -> bytes:
        return orjson.dumps(error_body(err))
