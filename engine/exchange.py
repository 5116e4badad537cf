"""One attempt's translation: how the upstream request is made and its answer turned
into the client's bytes.

Two shapes behind one interface:

* ``PassthroughExchange`` - the same format on both sides: the client's body is forwarded
  with only the model rewritten (unknown fields survive) and the answer is relayed frame
  by frame with the public id that served (the format's ``Passthrough``).
* ``TranslatedExchange`` - any other pair: canonical request -> adapter -> upstream bytes ->
  adapter decoder -> canonical events -> client codec encoder.

A ``Relay`` is one streamed attempt's state: upstream chunks in, client bytes out, plus
what the executor watches (the first token, usage, the characters relayed, malformed
events skipped) and, when a later candidate could resume the stream, a canonical
``Transcript`` of what the client saw (a passthrough keeps it with a shadow decoder). A
relay can be *continued* by another upstream's canonical stream (``engine.resume``): the
continuation writes into the same client stream through the same (or a primed) encoder.

A translated answer's reasoning state (``Thinking``) is stamped with the upstream's format
(``Thinking.origin``), whole or streamed, so a client codec that carries it back and forth
(Responses ``encrypted_content``) can tell which upstream may be sent it again.

The executor drives both the same way and never sees a vendor shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple, Protocol

from engine.canonical import (
    ChatRequest,
    Part,
    PartStart,
    RefusalDelta,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    Usage,
)
from engine.errors import GatewayError, UpstreamError, own_key_rejected
from engine.resume import Continuation, Transcript
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
    own_key: bool = False  # the endpoint carries the caller's own provider key (BYOK)

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        err = self.adapter.classify_error(status, headers, body)
        return own_key_rejected(err, self.endpoint.channel) if self.own_key else err


class Relay(Protocol):
    """Per-attempt stream state: upstream chunks in, client bytes out."""

    usage: Usage | None  # what this attempt's upstream reported (None until it did)
    transcript: Transcript | None  # kept only when the stream may be resumed elsewhere

    @property
    def started(self) -> bool:
        """The first token (text, reasoning or tool-call delta) has been relayed."""
        ...

    @property
    def output_chars(self) -> int:
        """Characters of output relayed so far (for an estimate when usage never came)."""
        ...

    @property
    def malformed_events(self) -> int: ...

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes: ...

    def error(self, err: GatewayError) -> bytes: ...

    def continued(self, decoder: StreamDecoder, continuation: Continuation, origin: str | None = None) -> Relay:
        """A relay writing another upstream's stream (of format ``origin``) into this client stream."""
        ...


class Exchange(Protocol):
    request: UpstreamRequest

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError: ...

    def finish(self, body: bytes) -> tuple[bytes, Usage]: ...

    def relay(self, keep_transcript: bool = False) -> Relay: ...

    def continue_relay(self, prior: Relay, continuation: Continuation) -> Relay:
        """This exchange's upstream stream continuing ``prior``'s client stream."""
        ...


def stamp_origin(parts: list[Part], origin: str) -> None:
    """Mark the reasoning state in ``parts`` as issued by an upstream of format ``origin``."""
    for part in parts:
        if isinstance(part, Thinking) and part.origin is None:
            part.origin = origin


def _is_token(event: StreamEvent) -> bool:
    if isinstance(event, TextDelta | ThinkingDelta | RefusalDelta):
        return bool(event.text)
    if isinstance(event, ToolArgsDelta):
        return True
    return isinstance(event, PartStart) and isinstance(event.part, ToolCall)


class _TranslatedRelay:
    __slots__ = (
        "_decoder", "_encoder", "_public_model", "_continuation", "_origin",
        "usage", "transcript", "_started", "_chars",
    )  # fmt: skip

    def __init__(
        self,
        decoder: StreamDecoder,
        encoder: StreamEncoder,
        public_model: str,
        transcript: Transcript | None = None,
        continuation: Continuation | None = None,
        origin: str | None = None,
    ) -> None:
        self._decoder = decoder
        self._origin = origin  # the upstream format, stamped on the reasoning it streams
        self._encoder = encoder
        self._public_model = public_model
        self._continuation = continuation
        self.usage: Usage | None = None
        self.transcript = transcript
        self._started = False
        self._chars = 0

    @property
    def started(self) -> bool:
        return self._started

    @property
    def output_chars(self) -> int:
        return self._chars

    @property
    def malformed_events(self) -> int:
        return self._decoder.malformed_events

    def _encode(self, events: list[StreamEvent]) -> bytes:
        if self._continuation is not None:
            for event in events:
                if isinstance(event, StreamEnd):
                    self.usage = event.usage  # this upstream's own usage; the client sees the sum
            events = self._continuation.map(events)
        out = []
        transcript = self.transcript
        for event in events:
            if isinstance(event, StreamStart):
                event = replace(event, model=self._public_model)
            elif isinstance(event, PartStart) and isinstance(event.part, Thinking) and self._origin is not None:
                stamp_origin([event.part], self._origin)
            elif isinstance(event, StreamEnd):
                if self._continuation is None:
                    self.usage = event.usage
            elif isinstance(event, TextDelta | ThinkingDelta | RefusalDelta):
                self._chars += len(event.text)
            elif isinstance(event, ToolArgsDelta):
                self._chars += len(event.fragment)
            if not self._started and _is_token(event):
                self._started = True
            if transcript is not None:
                transcript.add(event)
            out.append(self._encoder.encode(event))
        return b"".join(out)

    def feed(self, chunk: bytes) -> bytes:
        return self._encode(self._decoder.feed(chunk))

    def close(self) -> bytes:
        return self._encode(self._decoder.close())

    def error(self, err: GatewayError) -> bytes:
        return self._encoder.error(err)

    def continued(self, decoder: StreamDecoder, continuation: Continuation, origin: str | None = None) -> Relay:
        return _TranslatedRelay(decoder, self._encoder, self._public_model, self.transcript, continuation, origin)


class _PassthroughRelay:
    __slots__ = ("_stream", "_codec", "_canonical", "_public_model", "_shadow", "usage", "transcript")

    def __init__(
        self, stream: PassthroughStream, leg: Leg, canonical: ChatRequest, shadow: StreamDecoder | None
    ) -> None:
        self._stream = stream
        self._codec = leg.codec
        self._public_model = leg.public_model
        self._canonical = canonical
        self._shadow = shadow  # decodes the same bytes canonically, only to keep a transcript
        self.usage: Usage | None = None
        self.transcript = Transcript() if shadow is not None else None

    @property
    def started(self) -> bool:
        return self._stream.started

    @property
    def output_chars(self) -> int:
        return self._stream.output_chars

    @property
    def malformed_events(self) -> int:
        return self._stream.malformed_events

    def _shadow_feed(self, events: list[StreamEvent]) -> None:
        assert self.transcript is not None
        for event in events:
            if isinstance(event, StreamStart):  # the client was shown the public id
                event = replace(event, model=self._public_model)
            self.transcript.add(event)

    def feed(self, chunk: bytes) -> bytes:
        out = self._stream.feed(chunk)
        self.usage = self._stream.usage
        if self._shadow is not None:
            try:
                self._shadow_feed(self._shadow.feed(chunk))
            except UpstreamError:  # the shadow lost track: no canonical record, so no resume from it
                self._shadow, self.transcript = None, None
        return out

    def close(self) -> bytes:
        out = self._stream.close()
        self.usage = self._stream.usage
        return out

    def error(self, err: GatewayError) -> bytes:
        own = self._stream.error(err)
        return own if own is not None else self._codec.stream_encoder(self._canonical).error(err)

    def continued(self, decoder: StreamDecoder, continuation: Continuation, origin: str | None = None) -> Relay:
        """The client's view rebuilt in a fresh encoder (its output discarded: the client has
        it already), then the continuation written through it."""
        encoder = self._codec.stream_encoder(self._canonical)
        if self.transcript is not None:
            for event in self.transcript.replay():
                encoder.encode(event)
        return _TranslatedRelay(decoder, encoder, self._public_model, self.transcript, continuation, origin)


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
        return self._leg.classify(status, headers, body)

    def finish(self, body: bytes) -> tuple[bytes, Usage]:
        return self._passthrough.rewrite_response(body, self._leg.public_model)

    def relay(self, keep_transcript: bool = False) -> Relay:
        leg = self._leg
        # a body only its own format can carry has no canonical form to resume from
        shadow = leg.adapter.stream_decoder(leg.endpoint) if keep_transcript and not self._canonical.opaque else None
        stream = self._passthrough.stream(leg.public_model, self._canonical.include_usage)
        return _PassthroughRelay(stream, leg, self._canonical, shadow)

    def continue_relay(self, prior: Relay, continuation: Continuation) -> Relay:
        raise TypeError("a continuation is always translated: it re-sends a canonical request")


def for_model(request: ChatRequest, endpoint: Endpoint) -> ChatRequest:
    """``request`` without reasoning controls when the model does not declare the
    ``reasoning`` capability: a model that does not reason refuses them (OpenAI answers 400
    to ``reasoning_effort``), and an agent's thinking settings must not fail the attempt.
    A passthrough forwards what the client sent."""
    if request.reasoning is None or endpoint.reasoning:
        return request
    return replace(request, reasoning=None)


class TranslatedExchange:
    def __init__(self, leg: Leg, request: ChatRequest) -> None:
        self._canonical = request
        self._leg = leg
        self.request = leg.adapter.build_request(for_model(request, leg.endpoint), leg.endpoint)

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return self._leg.classify(status, headers, body)

    def finish(self, body: bytes) -> tuple[bytes, Usage]:
        leg = self._leg
        response = leg.adapter.decode_response(body, leg.endpoint)
        response.model = leg.public_model
        stamp_origin(response.parts, leg.adapter.format)
        return leg.codec.encode_response(response, self._canonical), response.usage

    def relay(self, keep_transcript: bool = False) -> Relay:
        leg = self._leg
        return _TranslatedRelay(
            leg.adapter.stream_decoder(leg.endpoint),
            leg.codec.stream_encoder(self._canonical),
            leg.public_model,
            Transcript() if keep_transcript else None,
            origin=leg.adapter.format,
        )

    def continue_relay(self, prior: Relay, continuation: Continuation) -> Relay:
        leg = self._leg
        return prior.continued(leg.adapter.stream_decoder(leg.endpoint), continuation, leg.adapter.format)
