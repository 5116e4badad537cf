"""The two seams every wire format implements: a client codec and an upstream adapter.

* ``ClientCodec`` (ingress): decode a client's request into ``ChatRequest``, encode a
  ``ChatResponse`` / stream / error back in the client's own wire format.
* ``UpstreamAdapter`` (egress): build the upstream HTTP request (pure), decode the
  upstream's response or stream into canonical types, classify upstream errors.
* ``Passthrough`` (same format on both sides): forward the client's own body with only the
  model rewritten, relay the answer with the public model id, read its usage on the way.

Providers never import Starlette, the routing code or an HTTP client: the executor does
the I/O and hands adapters bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from engine.canonical import ChatRequest, ChatResponse, StreamEvent, Usage
from engine.errors import GatewayError, UpstreamError
from engine.media.canonical import EmbeddingRequest, EmbeddingResult, ImageRequest, ImageResult

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
    reasoning: bool = True  # the model takes reasoning controls (declares the capability)
    system_messages: bool = False  # an Anthropic model taking role "system" mid-conversation


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
    output_cap_field: str  # the request field that caps output, as errors name it

    def decode_request(self, body: Any, *, model: str | None = None, stream: bool | None = None) -> ChatRequest:
        """``body`` is parsed JSON. ``model``/``stream`` come from the path when the format
        puts them there (Gemini). Raises ``BadRequest`` with a clear message."""
        ...

    def encode_response(self, response: ChatResponse, request: ChatRequest) -> bytes: ...

    def stream_encoder(self, request: ChatRequest) -> StreamEncoder: ...

    def encode_error(self, err: GatewayError) -> bytes:
        """The JSON error body; the HTTP status is ``err.status``."""
        ...


class TokenCounting(Protocol):
    """Optional on a ``ClientCodec``: the format has a token-counting endpoint (Anthropic
    ``count_tokens``, Gemini ``countTokens``). The registry finds the codecs that have it."""

    def decode_count_tokens_request(self, body: Any, *, model: str | None = None) -> ChatRequest:
        """The request to count (``model`` from the path, when the format puts it there)."""
        ...

    def encode_count_tokens(self, input_tokens: int) -> bytes: ...


class StreamReframer(Protocol):
    """Per streamed response: the client format's SSE frames in, the same answer in the
    framing the client asked for out."""

    def feed(self, frames: bytes) -> bytes: ...

    def close(self) -> bytes:
        """The end of the answer in that framing (after the last frame, error frames too)."""
        ...


class StreamReframing(Protocol):
    """Optional on a ``ClientCodec``: the format streams in a framing other than SSE when
    the client asks for it (Gemini's ``:streamGenerateContent`` without ``alt=sse``: one
    JSON array, written as it grows). The registry finds the codecs that have it."""

    stream_media_type: str  # the content type of a reframed stream

    def stream_reframer(self) -> StreamReframer: ...

    def reframe_error(self, body: bytes) -> bytes:
        """An error body (``encode_error``) as that framing answers a failed stream."""
        ...


class StreamDecoder(Protocol):
    """Per-request, stateful: upstream bytes in, canonical events out."""

    malformed_events: int
    """SSE events skipped because they could not be read (``data`` that is not JSON, or
    JSON of a shape the decoder cannot read); the stream goes on without them. Empty data
    lines are keep-alives, and an event cut short by the end of the stream is a cut: neither
    is counted here."""

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Raises ``UpstreamError`` when the upstream reports an error in-band (an error
        event that parses is an error, never skipped)."""
        ...

    def close(self) -> list[StreamEvent]:
        """End of the byte stream: the events still owed, ending with ``StreamEnd``. A
        stream that reached its finish reason is complete without its terminator
        (``[DONE]``, ``message_stop``), with the usage it reported (Anthropic and Gemini send
        it with the finish; OpenAI's usage chunk follows it and may be what was lost);
        ``UpstreamError('stream_cut')`` when it ended before its finish reason."""
        ...


class UpstreamAdapter(Protocol):
    format: str
    inline_images_only: bool  # True when the upstream cannot fetch image URLs itself

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        """Pure. Raises ``UnsupportedFeature`` for anything the format cannot carry."""
        ...

    def decode_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse: ...

    def stream_decoder(self, endpoint: Endpoint) -> StreamDecoder: ...

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError: ...


class PassthroughStream(Protocol):
    """Per streamed response: upstream SSE bytes in, the client's SSE bytes out (same format)."""

    usage: Usage | None  # what the upstream reported so far (None until it did)

    malformed_events: int
    """SSE events skipped, and not relayed, because they could not be read (``data`` that
    is not JSON, or JSON of a shape the passthrough cannot read); the stream goes on. Counted
    as ``StreamDecoder.malformed_events`` is."""

    started: bool
    """True once a frame relayed to the client carried the first token: the first text,
    reasoning/thinking or tool-call (name or arguments) delta. Role-only deltas, stream
    and block openings without content, pings, comments and keep-alives do not count."""

    output_chars: int
    """Characters of output relayed so far (text, reasoning, refusal, tool-call arguments):
    what the gateway bills by estimate when the upstream's usage never comes (the client
    hung up, the stream was cut)."""

    def feed(self, chunk: bytes) -> bytes:
        """Frames relayed with the public model id. Raises ``UpstreamError`` for an in-band
        upstream error event."""
        ...

    def close(self) -> bytes:
        """At the upstream's end of stream: the frames of a last event the upstream did not
        end with a blank line, and, when the stream reached its finish reason but not its
        terminator, what the client needs to see a clean end in its format (OpenAI's
        ``[DONE]``, Anthropic's ``message_stop``); ``UpstreamError("stream_cut", ...)``
        when it ended before its finish reason."""
        ...

    def error(self, err: GatewayError) -> bytes | None:
        """The terminal in-band error after a failure mid-stream, when this format's error
        needs what the relayed stream said (Responses' ``response.failed`` carries the
        response); None lets the client codec's stream encoder write it."""
        ...


class Passthrough(Protocol):
    """Same wire format on both sides: nothing is translated, so every field the client sent
    reaches the upstream and every field the upstream returns reaches the client."""

    format: str

    def build(
        self, body: dict[str, Any], endpoint: Endpoint, stream: bool, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        """Pure. The client's parsed body with the upstream model id and channel ``params``;
        ``stream`` is the client's choice (from the body or, for Gemini, the path)."""
        ...

    def rewrite_response(self, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        """A whole non-streamed answer with the public model id, and its usage."""
        ...

    def stream(self, public_model: str, client_wants_usage: bool) -> PassthroughStream: ...


class EmbeddingsUpstream(Protocol):
    """How one format's upstream is asked for embeddings (``<format>/embeddings.py``)."""

    def build_embedding_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
        """``UnsupportedFeature`` for what this format cannot carry (the attempt moves on)."""
        ...

    def decode_embedding_response(self, body: bytes, request: EmbeddingRequest) -> EmbeddingResult: ...


class ImagesUpstream(Protocol):
    """How one format's upstream is asked to generate or edit images (``<format>/images.py``)."""

    def build_image_request(self, request: ImageRequest, endpoint: Endpoint) -> UpstreamRequest:
        """``UnsupportedFeature`` for what this format cannot carry (the attempt moves on)."""
        ...

    def decode_image_response(self, body: bytes) -> ImageResult: ...
