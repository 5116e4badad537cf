"""``/v1/embeddings`` and ``/v1/images/*`` through the chat pipeline's steps: authenticate,
authorize the model, plan (``plan()`` with the request's kind), admit and reserve, run the
executor (retries, fallbacks, breakers), settle and write the usage rows. Only what differs
lives here: how the request is decoded, the exchange each attempt uses, how an image is
billed (per image, by size and quality, on top of any token prices) and the ``url`` answer.

The call's ``request`` is an outline (the model id, not streamed) so the shared steps read
it as they read chat; the media request itself rides in ``call.body`` (an ``EmbeddingsCall``
or an ``ImagesCall``, with the client's decoder and encoder).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from engine.billing import Charge, byok_for
from engine.call import Call, Ingress
from engine.canonical import ChatRequest, Usage
from engine.endpoints import endpoint_for, own_key, own_keys
from engine.errors import GatewayError, ModelNotFound, UnsupportedFeature
from engine.exchange import Exchange, Leg
from engine.media.billing import image_charges, worst_image_cost
from engine.media.canonical import EmbeddingRequest, EmbeddingResult, ImageRequest, ImageResult
from engine.media.exchange import MediaExchange
from engine.media.facts import embedding_facts, image_facts
from engine.media.image_store import ImageStore
from engine.pipeline import Answer, Pipeline
from engine.routing.execute import ExchangeFactory, Outcome, ResumeFactory
from engine.routing.facts import RequestFacts
from engine.routing.plan import Attempt, KeyFacts, plan

MediaRequest = EmbeddingRequest | ImageRequest


class EmbeddingsClient(NamedTuple):
    """How one client format's embeddings request is read (from its raw body) and answered."""

    decode: Callable[[bytes], EmbeddingRequest]
    encode: Callable[[EmbeddingResult, EmbeddingRequest], bytes]


class ImagesClient(NamedTuple):
    """How an images request is read and answered (``urls``: where the images are served,
    when the client asked for ``url``), and the base of those urls."""

    decode: Callable[[bytes], ImageRequest]
    encode: Callable[[ImageResult, ImageRequest, list[str] | None], bytes]
    base_url: str


@dataclass(slots=True)
class EmbeddingsCall:
    request: EmbeddingRequest
    client: EmbeddingsClient


@dataclass(slots=True)
class ImagesCall:
    request: ImageRequest
    client: ImagesClient
    results: dict[Attempt, ImageResult] = field(default_factory=dict)  # what each attempt returned


class MediaPipeline(Pipeline):
    def __init__(self, chat: Pipeline, image_store: ImageStore) -> None:
        """Shares the chat pipeline's policy store, registry, executor, health and gate."""
        super().__init__(chat.store, chat.registry, chat.executor, chat.health, chat.gate, chat.images)
        self.recorder = chat.recorder  # the worker's metrics, access log and traces
        self.image_store = image_store

    async def embeddings(self, ingress: Ingress, client: EmbeddingsClient) -> Answer:
        return await self._media(ingress, client)

    async def images_request(self, ingress: Ingress, client: ImagesClient) -> Answer:
        return await self._media(ingress, client)

    async def _media(self, ingress: Ingress, client: EmbeddingsClient | ImagesClient) -> Answer:
        return await self.observed(ingress, lambda started: self._media_call(ingress, client, started))

    async def _media_call(self, ingress: Ingress, client: EmbeddingsClient | ImagesClient, started: float) -> Answer:
        policy = self.store.current
        codec = self.registry.codec(ingress.fmt)
        headers = self.base_headers(policy, ingress.request_id)
        try:
            principal = await self.gate.authenticate(ingress.credential, ingress.client_ip, policy)
            request = client.decode(ingress.body)
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
            planned_at = datetime.now(UTC)
            route = plan(facts, policy, self.health, key, planned_at, self._rng)
        except GatewayError as err:
            self.recorder.rejected(ingress, err, started)
            return self.error_response(codec, err, headers)
        media: EmbeddingsCall | ImagesCall
        if isinstance(client, EmbeddingsClient):
            assert isinstance(request, EmbeddingRequest)
            media = EmbeddingsCall(request, client)
        else:
            assert isinstance(request, ImageRequest)
            media = ImagesCall(request, client)
        group = policy.groups.get(principal.group)
        multiplier = group.price_multiplier if group else 1.0
        outline = ChatRequest(model=request.model, messages=[])
        call = Call(ingress, policy, codec, headers, started, principal, outline, media, facts, route, multiplier)
        call.byok = byok_for(principal.byok_keys, group, policy)
        call.planned_at = planned_at
        return await self._execute(call)

    @staticmethod
    def _facts(request: MediaRequest, headers: Mapping[str, str], allowed: frozenset[str]) -> RequestFacts:
        if isinstance(request, EmbeddingRequest):
            return embedding_facts(request, headers, allowed)
        return image_facts(request, headers, allowed)

    async def _exchanges(self, call: Call) -> tuple[ExchangeFactory, ResumeFactory | None]:
        media: EmbeddingsCall | ImagesCall = call.body
        policy = call.policy

        def make(attempt: Attempt) -> Exchange:
            channel = policy.channels[attempt.target.channel]
            endpoint = endpoint_for(policy, attempt, own_keys(call))
            leg = Leg(endpoint, self.registry.adapter(channel.format), call.codec, attempt.target.model)
            classify = leg._replace(own_key=own_key(call, endpoint)).classify
            if isinstance(media, EmbeddingsCall):
                embeddings = self.registry.embeddings_upstream(channel.format)
                if embeddings is None:
                    raise UnsupportedFeature(["embeddings"], channel.format)
                request = media.request

                def embedded(body: bytes) -> EmbeddingResult:
                    assert embeddings is not None
                    return embeddings.decode_embedding_response(body, request)

                def answer_embeddings(result: EmbeddingResult) -> tuple[bytes, Usage]:
                    result.model = attempt.target.model  # the public id that served
                    return media.client.encode(result, request), result.usage

                built = embeddings.build_embedding_request(request, endpoint)
                return MediaExchange(built, classify, embedded, answer_embeddings)
            images = self.registry.images_upstream(channel.format)
            if images is None:
                raise UnsupportedFeature(["images"], channel.format)

            def answer_images(result: ImageResult) -> tuple[bytes, Usage]:
                media.results[attempt] = result
                return self._encode_images(media, result), result.usage

            built = images.build_image_request(media.request, endpoint)
            return MediaExchange(built, classify, images.decode_image_response, answer_images)

        return make, None

    def _encode_images(self, media: ImagesCall, result: ImageResult) -> bytes:
        """The client's answer; with ``url``, each image stored and its url given instead."""
        if not result.created:
            result.created = int(time.time())
        urls = None
        if media.request.response_format == "url":
            base = media.client.base_url.rstrip("/")
            urls = [
                f"{base}/v1/images/files/{self.image_store.save(image.data, image.media_type)}"
                for image in result.images
            ]
        return media.client.encode(result, media.request, urls)

    def _worst_case(self, call: Call) -> float:
        worst = super()._worst_case(call)
        if call.facts.kind != "image":
            return worst
        images = max(worst_image_cost(call.policy, a, call.facts, call.multiplier) for a in call.route.attempts)
        return worst + images

    def _charges(self, call: Call, outcome: Outcome) -> list[Charge]:
        per_attempt = super()._charges(call, outcome)
        if call.facts.kind != "image":
            return per_attempt
        media: ImagesCall = call.body
        own = call.byok.channels if call.byok is not None else ()  # own key: the group's fee only
        returned = {a: len(result.images) for a, result in media.results.items() if a.target.channel not in own}
        return image_charges(outcome.records, per_attempt, returned, call.policy, call.facts, call.multiplier)
