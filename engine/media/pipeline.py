"""``/v1/embeddings`` and ``/v1/images/*`` through the chat pipeline's steps: authenticate,
authorize the model, plan (``plan()`` with the request's kind), admit and reserve, run the
executor (retries, fallbacks, breakers), settle and write the usage rows. Only what differs
lives here: how the request is decoded, the exchange each attempt uses, how an image is
billed (per image, by size and quality, on top of any token prices) and the ``url`` answer.

The call's ``request`` is an outline (the model id, not streamed) so the shared steps read
it as they read chat; the media request itself rides in ``call.body`` as a ``MediaCall``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.billing import Charge
from engine.call import Call, Ingress
from engine.canonical import ChatRequest, Usage
from engine.errors import GatewayError, ModelNotFound, UnsupportedFeature
from engine.exchange import Exchange
from engine.media.billing import image_charges, worst_image_cost
from engine.media.canonical import EmbeddingRequest, EmbeddingResult, ImageRequest, ImageResult
from engine.media.exchange import MediaExchange
from engine.media.facts import embedding_facts, image_facts
from engine.media.image_store import ImageStore
from engine.pipeline import Answer, Pipeline, endpoint_for, parse_json
from engine.routing.execute import ExchangeFactory, Outcome, ResumeFactory
from engine.routing.facts import RequestFacts
from engine.routing.plan import Attempt, KeyFacts, plan

MediaRequest = EmbeddingRequest | ImageRequest


@dataclass(slots=True)
class MediaCall:
    """The media request of a call, the client's encoder, and each attempt's exchange."""

    request: MediaRequest
    encode: Callable[[Any], bytes]  # the result -> the client's body
    base_url: str  # where image urls point
    exchanges: dict[Attempt, MediaExchange[Any]] = field(default_factory=dict)


class MediaPipeline(Pipeline):
    def __init__(self, chat: Pipeline, image_store: ImageStore) -> None:
        """Shares the chat pipeline's policy store, registry, executor, health and gate."""
        super().__init__(chat.store, chat.registry, chat.executor, chat.health, chat.gate, chat.images)
        self.image_store = image_store

    async def embeddings(
        self,
        ingress: Ingress,
        decode: Callable[[Any], EmbeddingRequest],
        encode: Callable[[EmbeddingResult, EmbeddingRequest], bytes],
        parse: Callable[[bytes], Any] | None = None,
    ) -> Answer:
        """An embeddings request: ``decode`` reads the client's parsed body, ``encode``
        writes its answer."""
        return await self._media(ingress, lambda body: decode(self._parsed(body, parse)), encode, "")

    async def images_request(
        self,
        ingress: Ingress,
        decode: Callable[[bytes], ImageRequest],
        encode: Callable[[ImageResult, ImageRequest, list[str] | None], bytes],
        base_url: str,
    ) -> Answer:
        """An image generation or edit: ``decode`` reads the raw body (JSON or multipart)."""

        return await self._media(ingress, decode, lambda result, request: b"", (base_url, encode))

    @staticmethod
    def _parsed(body: bytes, parse: Callable[[bytes], Any] | None) -> Any:
        return parse_json(body) if parse is None else parse(body)

    async def _media(
        self,
        ingress: Ingress,
        decode: Callable[[bytes], MediaRequest],
        encode: Callable[[Any, Any], bytes],
        images: str | tuple[str, Callable[[ImageResult, ImageRequest, list[str] | None], bytes]],
    ) -> Answer:
        policy = self.store.current
        codec = self.registry.codec(ingress.fmt)
        headers = self.base_headers(policy, ingress.request_id)
        started = time.perf_counter()
        try:
            principal = await self.gate.authenticate(ingress.credential, ingress.client_ip, policy)
            request = decode(ingress.body)
            if request.model not in policy.models and request.model not in policy.aliases:
                known = ", ".join(policy.public_ids())
                raise ModelNotFound(
                    f"The model '{request.model}' does not exist. Known models and aliases: {known}",
                    code="model_not_found",
                    param="model",
                )
            self.gate.authorize_model(principal, request.model, policy)
            facts = self._facts(request, ingress.headers, policy.request_headers)
            key = KeyFacts(principal.key_name, principal.group, principal.tags)
            route = plan(facts, policy, self.health, key, datetime.now(UTC), self._rng)
        except GatewayError as err:
            return self.error_response(codec, err, headers)
        if isinstance(images, tuple):
            base_url, image_encode = images
            image_request = request

            def encode_images(pair: Any) -> bytes:
                assert isinstance(image_request, ImageRequest)
                return image_encode(pair[0], image_request, pair[1])

            media = MediaCall(request, encode_images, base_url)
        else:
            media = MediaCall(request, lambda result: encode(result, request), "")
        group = policy.groups.get(principal.group)
        multiplier = group.price_multiplier if group else 1.0
        outline = ChatRequest(model=request.model, messages=[])
        call = Call(ingress, policy, codec, headers, started, principal, outline, media, facts, route, multiplier)
        return await self._execute(call)

    @staticmethod
    def _facts(request: MediaRequest, headers: Mapping[str, str], allowed: frozenset[str]) -> RequestFacts:
        if isinstance(request, EmbeddingRequest):
            return embedding_facts(request, headers, allowed)
        return image_facts(request, headers, allowed)

    async def _exchanges(self, call: Call) -> tuple[ExchangeFactory, ResumeFactory | None]:
        media: MediaCall = call.body
        policy = call.policy

        def make(attempt: Attempt) -> Exchange:
            channel = policy.channels[attempt.target.channel]
            endpoint = endpoint_for(policy, attempt)
            adapter = self.registry.adapter(channel.format)
            request = media.request
            public = attempt.target.model
            exchange: MediaExchange[Any]
            if isinstance(request, EmbeddingRequest):
                upstream = self.registry.embeddings_upstream(channel.format)
                if upstream is None:
                    raise _unsupported("embeddings", channel.format)
                embed_request = request

                def answer_embeddings(result: EmbeddingResult) -> tuple[bytes, Usage]:
                    result.model = public
                    return media.encode(result), result.usage

                exchange = MediaExchange(
                    upstream.build_embedding_request(request, endpoint),
                    adapter,
                    lambda body: upstream.decode_embedding_response(body, embed_request),
                    answer_embeddings,
                )
            else:
                images = self.registry.images_upstream(channel.format)
                if images is None:
                    raise _unsupported("images", channel.format)
                exchange = MediaExchange(
                    images.build_image_request(request, endpoint),
                    adapter,
                    images.decode_image_response,
                    lambda result: (self._encode_images(media, result), result.usage),
                )
            media.exchanges[attempt] = exchange
            return exchange

        return make, None

    def _encode_images(self, media: MediaCall, result: ImageResult) -> bytes:
        request = media.request
        assert isinstance(request, ImageRequest)
        if not result.created:
            result.created = int(time.time())
        urls = None
        if request.response_format == "url":
            base = media.base_url.rstrip("/")
            urls = [
                f"{base}/v1/images/files/{self.image_store.save(image.data, image.media_type)}"
                for image in result.images
            ]
        encode = media.encode
        return encode((result, urls))

    def _worst_case(self, call: Call, attempt: Attempt) -> float:
        worst = super()._worst_case(call, attempt)
        if call.facts.kind != "image":
            return worst
        return worst + worst_image_cost(call.policy, attempt, call.facts, call.multiplier)

    def _charges(self, call: Call, outcome: Outcome) -> list[Charge]:
        per_attempt = super()._charges(call, outcome)
        if call.facts.kind != "image":
            return per_attempt
        media: MediaCall = call.body
        returned = {
            attempt: len(exchange.result.images)
            for attempt, exchange in media.exchanges.items()
            if isinstance(exchange.result, ImageResult)
        }
        return image_charges(outcome.records, per_attempt, returned, call.policy, call.facts, call.multiplier)


def _unsupported(what: str, fmt: str) -> GatewayError:
    return UnsupportedFeature([what], fmt)
