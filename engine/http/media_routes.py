"""The media endpoints: ``POST /v1/embeddings``, ``POST /v1/images/generations`` (JSON),
``POST /v1/images/edits`` (multipart), ``GET /v1/images/files/{name}`` (an image answered
as a ``url``, until it expires), and Gemini's ``:embedContent`` / ``:batchEmbedContents``
(reached through the Gemini route). Thin: read the body (image requests under their own
limit, refused with 413 as soon as it is known to be too large, before it is read whole)
and hand over to ``engine.media.pipeline``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.errors import GatewayError, ModelNotFound
from engine.http.client_ip import Network, client_ip
from engine.http.client_request import credential_for, read_body
from engine.http.json_body import parse_json
from engine.media.pipeline import EmbeddingsClient, ImagesClient, MediaPipeline
from engine.pipeline import Answer, Ingress
from providers.gemini import embeddings as gemini_embeddings
from providers.multipart import parse_form
from providers.openai import embeddings as openai_embeddings
from providers.openai import images as openai_images

Handled = Response | Answer
GEMINI_EMBED_METHODS = ("embedContent", "batchEmbedContents")


class MediaEndpoints:
    def __init__(
        self, body_limit: int, image_body_limit: int, proxies: tuple[Network, ...], public_url: str | None
    ) -> None:
        self._pipeline: MediaPipeline | None = None
        self.body_limit = body_limit
        self.image_body_limit = image_body_limit
        self.proxies = proxies
        self.public_url = public_url

    @property
    def pipeline(self) -> MediaPipeline:
        if self._pipeline is None:
            raise RuntimeError("the gateway is not started")
        return self._pipeline

    @pipeline.setter
    def pipeline(self, value: MediaPipeline) -> None:
        self._pipeline = value

    async def _ingress(self, request: Request, fmt: str, limit: int, **path: Any) -> Ingress:
        headers = request.headers
        body = await read_body(request.receive, headers.get("content-length"), limit, headers.get("content-encoding"))
        peer = request.client.host if request.client else "127.0.0.1"
        return Ingress(
            fmt=fmt,
            endpoint=request.scope["path"],
            body=body,
            credential=credential_for(fmt, headers, request.scope["query_string"]),
            client_ip=client_ip(peer, headers.get("x-forwarded-for"), self.proxies),
            headers=headers,
            request_id=request.state.request_id,
            **path,
        )

    def _fail(self, request: Request, fmt: str, err: GatewayError) -> Handled:
        pipeline = self.pipeline
        headers = pipeline.base_headers(pipeline.store.current, request.state.request_id)
        return pipeline.error_response(pipeline.registry.codec(fmt), err, headers)

    async def embeddings(self, request: Request) -> Handled:
        try:
            ingress = await self._ingress(request, "openai", self.body_limit)
        except GatewayError as err:
            return self._fail(request, "openai", err)
        client = EmbeddingsClient(
            lambda body: openai_embeddings.decode_embedding_request(parse_json(body)),
            openai_embeddings.encode_embedding_result,
        )
        return await self.pipeline.embeddings(ingress, client)

    async def gemini_embed(self, request: Request, model: str, method: str) -> Handled:
        """``:embedContent`` (one input) or ``:batchEmbedContents`` (many), Gemini's shapes."""
        try:
            ingress = await self._ingress(request, "gemini", self.body_limit)
        except GatewayError as err:
            return self._fail(request, "gemini", err)
        if method == "embedContent":
            client = EmbeddingsClient(
                lambda body: gemini_embeddings.decode_embed_content(parse_json(body), model),
                lambda result, _: gemini_embeddings.encode_embed_content(result),
            )
        else:
            client = EmbeddingsClient(
                lambda body: gemini_embeddings.decode_batch_embed_contents(parse_json(body), model),
                lambda result, _: gemini_embeddings.encode_batch_embed_contents(result),
            )
        return await self.pipeline.embeddings(ingress, client)

    async def generations(self, request: Request) -> Handled:
        try:
            ingress = await self._ingress(request, "openai", self.image_body_limit)
        except GatewayError as err:
            return self._fail(request, "openai", err)
        client = ImagesClient(
            lambda body: openai_images.decode_generation(parse_json(body)),
            openai_images.encode_result,
            self._base_url(request),
        )
        return await self.pipeline.images_request(ingress, client)

    async def edits(self, request: Request) -> Handled:
        try:
            ingress = await self._ingress(request, "openai", self.image_body_limit)
        except GatewayError as err:
            return self._fail(request, "openai", err)
        content_type = request.headers.get("content-type", "")
        client = ImagesClient(
            lambda body: openai_images.decode_edit(parse_form(body, content_type)),
            openai_images.encode_result,
            self._base_url(request),
        )
        return await self.pipeline.images_request(ingress, client)

    async def image_file(self, request: Request) -> Handled:
        found = self.pipeline.image_store.load(request.path_params["name"])
        if found is None:
            err = ModelNotFound("no such image (it may have expired)", code="image_not_found")
            return self._fail(request, "openai", err)
        data, media_type = found
        return Response(data, media_type=media_type, headers={"cache-control": "private, max-age=300"})

    def _base_url(self, request: Request) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        return f"{request.url.scheme}://{host}"

    def routes(self) -> list[Route]:
        post: list[str] = ["POST"]
        handlers: list[tuple[str, Callable[[Request], Awaitable[Handled]]]] = [
            ("/embeddings", self.embeddings),
            ("/images/generations", self.generations),
            ("/images/edits", self.edits),
        ]
        routes = [Route(prefix + path, handler, methods=post) for prefix in ("/v1", "") for path, handler in handlers]
        routes.append(Route("/v1/images/files/{name}", self.image_file, methods=["GET"]))
        return routes
