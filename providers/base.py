"""The two seams every wire format implements: a client codec and an upstream adapter.

* ``ClientCodec`` (ingress): decode a client's request into ``ChatRequest``, encode a
  ``ChatResponse`` / stream / error back in the client's own wire format.
* ``UpstreamAdapter`` (egress): build the upstream HTTP request (pure), decode the
  upstream's response or stream into canonical types, classify upstream errors.

Providers never import Starlette, the routing code or an HTTP client: the executor does
the I/O and hands adapters bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from engine.canonical import ChatRequest, ChatResponse, StreamEvent
from engine.errors import GatewayError, UpstreamError

_NONE: Mapping[str, Any] = MappingProxyType({})  # the shared, read-only empty default


class Endpoint(NamedTuple):
    """Everything an adapter needs to address one channel for one model."""

    channel: str
    format: str
    base_url: str  # without trailing slash, e.g. https://api.openai.com/v1
    api_key: str | None
    upstream_model: str
    headers: Mapping[str, str] = _NONE  # extra headers per channel
    params: Mapping[str, Any] = _NONE  # body fields forced per channel
    max_tokens_field: str = "max_completion_tokens"  # "openai" format: the output cap's field


class UpstreamRequest(NamedTuple):
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


class StreamEncoder(Protocol):
    """Per-request, stateful: canonical events in, client wire bytes (SSE frames) out."""

    def encode(self, event: StreamEvent) -> bytes: ...

    def error(self, err: GatewayError) -> bytes:
        """The terminal in-band error frame(s) after a failure mid-stream."""
        ...


class ClientCodec(Protocol):
    format: str  # "openai", "openai-responses", "anthropic", "gemini"

    def decode_request(self, body: Any, *, model: str | None = None, stream: bool | None = None) -> ChatRequest:
        """``body`` is parsed JSON. ``model``/``stream`` come from the path when the format
        puts them there (Gemini). Raises ``BadRequest`` with a clear message."""
        ...

    def encode_response(self, response: ChatResponse, request: ChatRequest) -> bytes: ...

    def stream_encoder(self, request: ChatRequest) -> StreamEncoder: ...

    def encode_error(self, err: GatewayError) -> bytes:
        """The JSON error body; the HTTP status is ``err.status``."""
        ...


class StreamDecoder(Protocol):
    """Per-request, stateful: upstream bytes in, canonical events out."""

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Raises ``UpstreamError`` when the upstream reports an error in-band."""
        ...

    def close(self) -> list[StreamEvent]:
        """End of the byte stream. Raises ``UpstreamError('stream_cut')`` if the terminal
        event never came."""
        ...


class UpstreamAdapter(Protocol):
    format: str

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        """Pure. Raises ``UnsupportedFeature`` for anything the format cannot carry."""
        ...

    def decode_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse: ...

    def stream_decoder(self, endpoint: Endpoint) -> StreamDecoder: ...

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError: ...
