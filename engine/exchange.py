"""One attempt's translation: how the upstream request is made and its answer turned
into the client's bytes.

Two shapes behind one interface:

* ``PassthroughExchange`` - the same format on both sides: the client's body is forwarded
  with only the model rewritten (unknown fields survive) and the answer is relayed frame
  by frame with the public id that served (the format's ``Passthrough``).
* ``TranslatedExchange`` - any other pair: canonical request -> adapter -> upstream bytes ->
  adapter decoder -> canonical events -> client codec encoder.

The executor drives both the same way and never sees a vendor shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from engine.canonical import ChatRequest, StreamEnd, StreamStart, Usage
from engine.errors import GatewayError, UpstreamError
from providers.base import (
    ClientCodec,
    Endpoint,
    Passthrough,
    PassthroughStream,
    StreamDecoder,
    StreamEncoder,
    UpstreamAdapter,
    UpstreamRequest,
)


class Relay(Protocol):
    """Per-attempt stream state: upstream chunks in, client bytes out."""

    usage: Usage | None

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes: ...

    def error(self, err: GatewayError) -> bytes: ...


class Exchange(Protocol):
    request: UpstreamRequest

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError: ...

    def finish(self, body: bytes) -> tuple[bytes, Usage]: ...

    def relay(self) -> Relay: ...


class _PassthroughRelay:
    def __init__(self, stream: PassthroughStream, encoder: StreamEncoder) -> None:
        self._stream = stream
        self._encoder = encoder
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> bytes:
        out = self._stream.feed(chunk)
        self.usage = self._stream.usage
        return out

    def close(self) -> bytes:
        out = self._stream.close()
        self.usage = self._stream.usage
        return out

    def error(self, err: GatewayError) -> bytes:
        own = self._stream.error(err)
        return own if own is not None else self._encoder.error(err)


class PassthroughExchange:
    def __init__(
        self,
        passthrough: Passthrough,
        body: dict[str, Any],
        endpoint: Endpoint,
        public_model: str,
        request: ChatRequest,
        client_headers: Mapping[str, str],
        codec: ClientCodec,
        adapter: UpstreamAdapter,
    ) -> None:
        self.request = passthrough.build(body, endpoint, request.stream, client_headers)
        self._passthrough = passthrough
        self._public_model = public_model
        self._canonical = request
        self._codec = codec
        self._adapter = adapter

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return self._adapter.classify_error(status, headers, body)

    def finish(self, body: bytes) -> tuple[bytes, Usage]:
        return self._passthrough.rewrite_response(body, self._public_model)

    def relay(self) -> Relay:
        return _PassthroughRelay(
            self._passthrough.stream(self._public_model, self._canonical.include_usage),
            self._codec.stream_encoder(self._canonical),
        )


class _TranslatedRelay:
    def __init__(self, decoder: StreamDecoder, encoder: StreamEncoder, public_model: str) -> None:
        self._decoder = decoder
        self._encoder = encoder
        self._public_model = public_model
        self.usage: Usage | None = None

    def _encode(self, events: list[Any]) -> bytes:
        out = []
        for event in events:
            if isinstance(event, StreamStart):
                event = replace(event, model=self._public_model)
            elif isinstance(event, StreamEnd):
                self.usage = event.usage
            out.append(self._encoder.encode(event))
        return b"".join(out)

    def feed(self, chunk: bytes) -> bytes:
        return self._encode(self._decoder.feed(chunk))

    def close(self) -> bytes:
        return self._encode(self._decoder.close())

    def error(self, err: GatewayError) -> bytes:
        return self._encoder.error(err)


class TranslatedExchange:
    def __init__(
        self,
        request: ChatRequest,
        endpoint: Endpoint,
        public_model: str,
        codec: ClientCodec,
        adapter: UpstreamAdapter,
    ) -> None:
        self._canonical = request
        self._endpoint = endpoint
        self._public_model = public_model
        self._codec = codec
        self._adapter = adapter
        self.request = adapter.build_request(request, endpoint)

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return self._adapter.classify_error(status, headers, body)

    def finish(self, body: bytes) -> tuple[bytes, Usage]:
        response = self._adapter.decode_response(body, self._endpoint)
        response.model = self._public_model
        return self._codec.encode_response(response, self._canonical), response.usage

    def relay(self) -> Relay:
        return _TranslatedRelay(
            self._adapter.stream_decoder(self._endpoint),
            self._codec.stream_encoder(self._canonical),
            self._public_model,
        )
