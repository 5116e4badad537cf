"""Thin HTTP endpoints: pick the client format by path, read the body and credentials,
hand over to the pipeline. No routing or vendor logic lives here. (The hot POST endpoints
are answered before Starlette by ``engine.http.data_plane``; their routes here give other
methods a 405 in the client's format.) Credentials and bodies are read as
``engine.http.client_request`` says.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.errors import BadRequest, GatewayError, ModelNotFound
from engine.explain import explain_plan
from engine.http.client_ip import Network, client_ip
from engine.http.client_request import DATA_PLANE_FORMATS, credential_for, read_body
from engine.http.json_body import parse_json
from engine.http.media_routes import GEMINI_EMBED_METHODS, MediaEndpoints
from engine.http.models_list import (
    anthropic_models,
    gemini_models,
    openai_model,
    openai_models,
)
from engine.http.readiness import Probe, readiness
from engine.http.reply import Reply
from engine.http.status import status_document
from engine.pipeline import Answer, Ingress, Pipeline
from engine.routing.facts import request_facts

Handled = Response | Answer

GEMINI_METHODS = {"generateContent": False, "streamGenerateContent": True, "countTokens": None}
GEMINI_STREAM_ALT = frozenset({"sse", "json"})  # the stream framings ``?alt=`` may ask for


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")


class Endpoints:
    def __init__(self, pipeline: Pipeline | None, body_limit: int, proxies: tuple[Network, ...]) -> None:
        self._pipeline = pipeline
        self.probe: Probe | None = None  # the state store's reachability check, when there is one
        self.draining = False  # shutting down: not ready for new traffic
        self.home: str | None = None  # where a browser's GET / goes (the web console, when mounted)
        self.body_limit = body_limit
        self.proxies = proxies
        self.media: MediaEndpoints | None = None  # embeddings and images (engine.http.media_routes)

    @property
    def pipeline(self) -> Pipeline:
        """Set by the app's lifespan once the worker's shared objects exist."""
        if self._pipeline is None:
            raise RuntimeError("the gateway is not started")
        return self._pipeline

    @pipeline.setter
    def pipeline(self, value: Pipeline) -> None:
        self._pipeline = value

    def policy_version(self) -> str | None:
        return self._pipeline.store.current.version if self._pipeline is not None else None

    async def _body(self, request: Request) -> bytes:
        headers = request.headers
        return await read_body(
            request.receive, headers.get("content-length"), self.body_limit, headers.get("content-encoding")
        )

    def _ingress(self, request: Request, fmt: str, body: bytes, **path: Any) -> Ingress:
        peer = request.client.host if request.client else "127.0.0.1"
        return Ingress(
            fmt=fmt,
            endpoint=request.scope["path"],
            body=body,
            credential=credential_for(fmt, request.headers, request.scope["query_string"]),
            client_ip=client_ip(peer, request.headers.get("x-forwarded-for"), self.proxies),
            headers=request.headers,  # case-insensitive; rules only see whitelisted names
            request_id=request.state.request_id,
            **path,
        )

    async def _serve(self, request: Request, fmt: str, **path: Any) -> Handled:
        started = time.perf_counter()
        try:
            body = await self._body(request)
        except GatewayError as err:
            unread = self._ingress(request, fmt, b"", **path)
            self.pipeline.recorder.unread(unread, started, err.status, err.kind)
            policy = self.pipeline.store.current
            headers = self.pipeline.base_headers(policy, request.state.request_id)
            return self.pipeline.error_response(self.pipeline.registry.codec(fmt), err, headers)
        return await self.pipeline.handle(self._ingress(request, fmt, body, **path))

    def _post(self, fmt: str) -> Callable[[Request], Awaitable[Handled]]:
        """A data-plane endpoint for the router. The data plane answers these POSTs before
        Starlette; the routes give other methods their 405 in the client's format."""

        async def endpoint(request: Request) -> Handled:
            return await self._serve(request, fmt)

        return endpoint

    async def gemini(self, request: Request) -> Handled:
        target = request.path_params["target"]
        model, _, method = target.partition(":")
        if method in GEMINI_EMBED_METHODS and self.media is not None:
            return await self.media.gemini_embed(request, model, method)
        if method not in GEMINI_METHODS:
            err = BadRequest(
                f"unknown method '{method}': use generateContent, streamGenerateContent, countTokens, "
                "embedContent or batchEmbedContents"
            )
            return await self._fail(request, "gemini", err)
        if method == "countTokens":
            return await self._count(request, "gemini", model)
        stream = GEMINI_METHODS[method]
        if not stream:
            return await self._serve(request, "gemini", path_model=model, path_stream=False)
        # A stream is SSE with ``alt=sse`` (what the SDKs ask for); otherwise it is the REST
        # default, one JSON array, and so is an error answered before it started.
        alt = request.query_params.get("alt", "json")
        if alt not in GEMINI_STREAM_ALT:
            err = BadRequest(f"alt: '{alt}' is not supported: use alt=sse, or alt=json (the default)", param="alt")
            return await self._fail(request, "gemini", err)
        sse = alt == "sse"
        answer = await self._serve(request, "gemini", path_model=model, path_stream=True, sse=sse)
        reframing = self.pipeline.registry.stream_reframing("gemini")
        if not sse and reframing is not None and isinstance(answer, Reply) and answer.status_code >= 400:
            return Reply(reframing.reframe_error(answer.body), answer.status_code, answer.headers)
        return answer

    async def count_tokens(self, request: Request) -> Handled:
        return await self._count(request, "anthropic", None)

    async def _count(self, request: Request, fmt: str, model: str | None) -> Handled:
        """Token counting is an estimate (the one routing uses), in the client's shape."""
        pipeline = self.pipeline
        policy = pipeline.store.current
        headers = pipeline.base_headers(policy, request.state.request_id)
        try:
            ingress = self._ingress(request, fmt, await self._body(request), path_model=model, path_stream=False)
            principal = await pipeline.gate.authenticate(ingress.credential, ingress.client_ip, policy)
            body = parse_json(ingress.body)
            counter = pipeline.registry.token_counter(fmt)
            if counter is None:
                raise ModelNotFound(f"the {fmt} format has no token-counting endpoint", code="unknown_url")
            canonical = counter.decode_count_tokens_request(body, model=model)
            pipeline.gate.authorize_model(principal, canonical.model, policy)
            if canonical.model not in policy.models and canonical.model not in policy.aliases:
                known = ", ".join(policy.public_ids())
                raise ModelNotFound(
                    f"The model '{canonical.model}' does not exist. Known models and aliases: {known}",
                    code="model_not_found",
                )
            tokens = request_facts(canonical, {}, frozenset()).estimated_tokens
        except GatewayError as err:
            return pipeline.error_response(pipeline.registry.codec(fmt), err, headers)
        return Response(counter.encode_count_tokens(tokens), headers=headers, media_type="application/json")

    async def _fail(self, request: Request, fmt: str, err: GatewayError) -> Handled:
        policy = self.pipeline.store.current
        headers = self.pipeline.base_headers(policy, request.state.request_id)
        return self.pipeline.error_response(self.pipeline.registry.codec(fmt), err, headers)

    async def _authed(self, request: Request, fmt: str) -> GatewayError | None:
        policy = self.pipeline.store.current
        peer = request.client.host if request.client else "127.0.0.1"
        ip = client_ip(peer, request.headers.get("x-forwarded-for"), self.proxies)
        try:
            await self.pipeline.gate.authenticate(
                credential_for(fmt, request.headers, request.scope["query_string"]), ip, policy
            )
        except GatewayError as err:
            return err
        return None

    async def models(self, request: Request) -> Handled:
        fmt = "anthropic" if "anthropic-version" in request.headers else "openai"
        err = await self._authed(request, fmt)
        if err is not None:
            return await self._fail(request, fmt, err)
        policy = self.pipeline.store.current
        headers = self.pipeline.base_headers(policy, request.state.request_id)
        down = self.pipeline.health.open_pairs()
        body = anthropic_models(policy, down) if fmt == "anthropic" else openai_models(policy, down)
        return _json(body, headers=headers)

    async def model(self, request: Request) -> Handled:
        fmt = "anthropic" if "anthropic-version" in request.headers else "openai"
        err = await self._authed(request, fmt)
        if err is not None:
            return await self._fail(request, fmt, err)
        policy = self.pipeline.store.current
        headers = self.pipeline.base_headers(policy, request.state.request_id)
        found = openai_model(policy, request.path_params["model_id"], self.pipeline.health.open_pairs())
        if found is None:
            known = ", ".join(policy.public_ids())
            missing = ModelNotFound(
                f"The model '{request.path_params['model_id']}' does not exist. Known models and aliases: {known}",
                code="model_not_found",
                param="model",
            )
            return await self._fail(request, fmt, missing)
        return _json(found, headers=headers)

    async def gemini_models(self, request: Request) -> Handled:
        err = await self._authed(request, "gemini")
        if err is not None:
            return await self._fail(request, "gemini", err)
        policy = self.pipeline.store.current
        headers = self.pipeline.base_headers(policy, request.state.request_id)
        body = gemini_models(policy, self.pipeline.health.open_pairs())
        return Response(body, headers=headers, media_type="application/json")

    async def healthz(self, request: Request) -> Handled:
        return _json({"status": "ok", "policy": self.pipeline.store.current.version})

    async def reachable(self, request: Request) -> Handled:
        """``HEAD /`` (and ``/api/hello``): the reachability probes clients such as Claude Code
        send to a base URL before their first call. No credentials, nothing but a 200. A
        browser's ``GET /`` goes to the web console when there is one (``home``)."""
        if self.home is not None and request.method == "GET" and request.url.path == "/":
            return RedirectResponse(self.home, status_code=303)
        return _json({"status": "ok"})

    async def readyz(self, request: Request) -> Handled:
        store = self._pipeline.store if self._pipeline is not None else None
        ready, document = await readiness(store, self.probe, draining=self.draining)
        return _json(document, status=200 if ready else 503)

    async def status(self, request: Request) -> Handled:
        return _json(status_document(self.pipeline.store, self.pipeline.health, self.pipeline.canaries))

    async def explain(self, request: Request) -> Handled:
        err = await self._authed(request, "openai")
        if err is not None:
            return await self._fail(request, "openai", err)
        policy = self.pipeline.store.current
        headers = self.pipeline.base_headers(policy, request.state.request_id)
        codec = self.pipeline.registry.codec("openai")
        try:
            payload = parse_json(await self._body(request))
            if not isinstance(payload, dict) or not isinstance(payload.get("request"), dict):
                raise BadRequest('expected {"model": "...", "request": {<chat completion body>}}')
            chat = dict(payload["request"])
            if isinstance(payload.get("model"), str):
                chat["model"] = payload["model"]
            principal = await self.pipeline.gate.authenticate(
                credential_for("openai", request.headers, request.scope["query_string"]), "127.0.0.1", policy
            )
            canonical = codec.decode_request(chat)
            facts, route = self.pipeline.plan(canonical, principal, policy, {})
        except GatewayError as error:
            return self.pipeline.error_response(codec, error, headers)
        return _json(explain_plan(route, facts, policy.version, policy), headers=headers)

    def routes(self) -> list[Route]:
        post, get = ["POST"], ["GET"]
        routes = [
            Route("/healthz", self.healthz, methods=get),
            Route("/readyz", self.readyz, methods=get),
            Route("/", self.reachable, methods=get),
            Route("/api/hello", self.reachable, methods=get),
            Route("/api/status", self.status, methods=get),
            Route("/api/explain", self.explain, methods=post),
            Route("/v1beta/models", self.gemini_models, methods=get),
            Route("/v1beta/models/{target:path}", self.gemini, methods=post),
            # google-genai >= 3 defaults to api_version "v1": same Gemini format there
            Route("/v1/models/{target:path}", self.gemini, methods=post),
        ]
        for prefix in ("/v1", ""):
            routes += [Route(prefix + path, self._post(fmt), methods=post) for path, fmt in DATA_PLANE_FORMATS.items()]
            routes += [
                Route(f"{prefix}/messages/count_tokens", self.count_tokens, methods=post),
                Route(f"{prefix}/models", self.models, methods=get),
                Route(f"{prefix}/models/{{model_id:path}}", self.model, methods=get),
            ]
        return routes
