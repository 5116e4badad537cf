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
from typing import Any, NamedTuple, Protocol

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


class Leg(NamedTuple):
    """Both ends of one attempt: the upstream endpoint and its adapter, the client's codec,
    and the public model id the client is shown."""

    endpoint: Endpoint
    adapter: UpstreamAdapter
    codec: ClientCodec
    public_model: str


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
        leg: Leg,
        body: dict[str, Any],
        request: ChatRequest,
        client_headers: Mapping[str, str],
    ) -> None:
        self.request = passthrough.build(body, leg.endpoint, request.stream, client_headers)
        self._passthrough = passthrough
        self._leg = leg
        self._canonical = request

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return self._leg.adapter.classify_error(status, headers, body)

    def finish(self, body: bytes) -> tuple[bytes, Usage]:
        return self._passthrough.rewrite_response(body, self._leg.public_model)

    def relay(self) -> Relay:
        return _PassthroughRelay(
            self._passthrough.stream(self._leg.public_model, self._canonical.include_usage),
            self._leg.codec.stream_encoder(self._canonical),
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
    def __init__(self, leg: Leg, request: ChatRequest) -> None:
        self._canonical = request
        self._leg = leg
        self.request = leg.adapter.build_request(request, leg.endpoint)

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return self._leg.adapter.classify_error(status, headers, body)

    def finish(self, body: bytes) -> tuple[bytes, Usage]:
        leg = self._leg
        response = leg.adapter.decode_response(body, leg.endpoint)
        response.model = leg.public_model
        return leg.codec.encode_response(response, self._canonical), response.usage

    def relay(self) -> Relay:
        leg = self._leg
        return _TranslatedRelay(
            leg.adapter.stream_decoder(leg.endpoint), leg.codec.stream_encoder(self._canonical), leg.public_model
        )
