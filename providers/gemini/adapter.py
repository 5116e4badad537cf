"""The Gemini upstream adapter (format ``"gemini"``): the gateway calling the Gemini API.

``build_request`` posts to ``{base_url}/models/{model}:generateContent`` or
``:streamGenerateContent?alt=sse`` with the key in the ``x-goog-api-key`` header (never in
the URL), the channel's extra headers, and the body from ``request_encoder``. The same
URL shape serves Vertex AI when ``base_url`` is
``https://{region}-aiplatform.googleapis.com/v1/projects/{p}/locations/{region}/publishers/google``
and the channel supplies an ``Authorization`` header instead of a key. An upstream model
id that already has a collection (``tunedModels/x``) is used as is.

Responses, streams and errors are decoded per ``response_decoder``,
``stream_decoder`` and ``error_classifier``. ``clock`` and ``new_id`` (for ``created``
and for responses without a ``responseId``) are injectable for tests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from urllib.parse import quote

import orjson

from engine.canonical import ChatRequest, ChatResponse
from engine.errors import UpstreamError
from providers.base import Endpoint, UpstreamRequest
from providers.gemini.error_classifier import classify_error
from providers.gemini.request_encoder import encode_request
from providers.gemini.response_decoder import decode_response
from providers.gemini.stream_decoder import GeminiStreamDecoder
from providers.gemini.wire import FORMAT


def _new_id() -> str:
    return f"gemini-{uuid.uuid4().hex}"


def model_path(upstream_model: str) -> str:
    if "/" in upstream_model:
        return "/".join(quote(seg, safe="") for seg in upstream_model.split("/"))
    return f"models/{quote(upstream_model, safe='')}"


def request_url(endpoint: Endpoint, stream: bool) -> str:
    """``generateContent``, or ``streamGenerateContent`` as SSE, for the upstream model."""
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{endpoint.base_url}/{model_path(endpoint.upstream_model)}:{method}"


def request_headers(endpoint: Endpoint) -> dict[str, str]:
    """The channel's headers, JSON, and the key as ``x-goog-api-key``."""
    headers = dict(endpoint.headers)
    headers["content-type"] = "application/json"
    if endpoint.api_key:
        headers["x-goog-api-key"] = endpoint.api_key
    return headers


class GeminiAdapter:
    format = FORMAT
    inline_images_only = True  # Gemini cannot fetch image URLs itself: the gateway inlines them

    def __init__(self, *, clock: Callable[[], float] = time.time, new_id: Callable[[], str] = _new_id) -> None:
        self._clock = clock
        self._new_id = new_id

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        body = encode_request(request, endpoint.upstream_model, endpoint.params)
        return UpstreamRequest(
            method="POST",
            url=request_url(endpoint, request.stream),
            headers=request_headers(endpoint),
            body=orjson.dumps(body),
        )

    def decode_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError("server", "Gemini response is not JSON") from None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            raise classify_error(200, {}, body)
        return decode_response(parsed, model=endpoint.upstream_model, clock=self._clock, new_id=self._new_id)

    def stream_decoder(self, endpoint: Endpoint) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(model=endpoint.upstream_model, clock=self._clock, new_id=self._new_id)

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return classify_error(status, headers, body)
