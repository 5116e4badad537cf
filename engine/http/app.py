"""build_app(settings) -> the ASGI application: the data plane (``engine.http.data_plane``, the
hot POST endpoints) in front of the Starlette app, whose lifespan owns the shared objects
of a worker: the policy store and its watcher, the upstream session, health, the gate.

``create_app`` is the factory Granian imports in each worker; it reads settings from the
environment (the CLI puts its flags there before starting Granian).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.access import Gate, StaticKeyGate
from engine.canary.monitor import CanaryMonitor
from engine.console.render import PREFIX as CONSOLE_HOME
from engine.errors import BadRequest, GatewayError, ModelNotFound
from engine.http.client_ip import parse_networks
from engine.http.data_plane import DataPlane, client_path
from engine.http.graceful import DRAIN_SIGNAL
from engine.http.media_routes import MediaEndpoints
from engine.http.request_ids import RequestIds
from engine.http.routes import Endpoints
from engine.http.state_routes import state_routes
from engine.keyed_gate import CLOSED_WITHOUT_KEYS, KeyedGate, open_store
from engine.media.deadlines import media_deadlines
from engine.media.image_store import ImageStore
from engine.media.pipeline import MediaPipeline
from engine.observability.log_setup import configure_logging
from engine.observability.metrics import CONTENT_TYPE
from engine.observability.worker import WorkerObservability
from engine.pipeline import Pipeline
from engine.policy.secrets import process_env
from engine.policy.store import PolicyStore
from engine.policy.watch import watch_policy, watch_secrets
from engine.routing.execute import Executor
from engine.routing.health import Health
from engine.routing.image_fetch import ImageFetcher
from engine.routing.transport import HttpTransports
from engine.settings import Settings, load_settings
from engine.state import State, StateConfigError
from providers.registry import build_registry

log = logging.getLogger("turnout")


class RequestContext:
    """Pure ASGI middleware for the Starlette routes: a request id and the policy version on
    every response; and the ``/v1/v1`` that clients configured with a base URL ending in
    /v1 sometimes send. (The data plane in front does the same for its own endpoints.)

    Routed responses set ``x-turnout-policy`` themselves (the snapshot they ran on); the
    middleware adds the current version only where a response has none."""

    def __init__(self, app: ASGIApp, version: Callable[[], str | None], ids: RequestIds) -> None:
        self.app = app
        self.version = version
        self.ids = ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = client_path(scope["path"])
        if path != scope["path"]:
            scope = {**scope, "path": path, "raw_path": path.encode()}
        request_id = self.ids.for_request(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id
        raw_id = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k for k, _ in headers}
                if b"x-request-id" not in names:
                    headers.append((b"x-request-id", raw_id))
                version = self.version() if b"x-turnout-policy" not in names else None
                if version is not None:
                    headers.append((b"x-turnout-policy", version.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def _format_of(path: str) -> str:
    """The client format a path belongs to, for errors Starlette raises (404, 405, 500)."""
    if path.startswith("/v1beta"):
        return "gemini"
    if "/messages" in path:
        return "anthropic"
    if path.rstrip("/").endswith("/responses") or path == "/responses":
        return "openai-responses"
    return "openai"


async def open_gate(settings: Settings) -> tuple[Gate, State | None]:
    """The key store behind the static keys, or static keys alone without key management."""
    static = StaticKeyGate(settings.static_keys())
    if not settings.key_management:
        return static, None
    state = await open_store(settings)
    gate = KeyedGate(static, state.gate, state.keys.presence)
    try:
        presence = await gate.start()
    except BaseException:
        await state.close()
        raise
    if gate.open:
        log.warning(
            "no API keys configured: the gateway is OPEN (loopback only); create one with `turnout keys create`"
        )
    elif presence is not None and not presence.any_now:
        log.warning(CLOSED_WITHOUT_KEYS)
    return gate, state


def build_app(settings: Settings) -> ASGIApp:
    """The data plane in front of the Starlette app (which owns the lifespan)."""
    registry = build_registry()
    proxies = parse_networks(settings.proxy_networks())
    endpoints = Endpoints(None, settings.body_limit, proxies)
    media = MediaEndpoints(settings.body_limit, settings.image_body_limit, proxies, settings.public_url)
    endpoints.media = media
    extra_routes: list[BaseRoute] = []
    observed: list[WorkerObservability] = []  # the worker's, once its lifespan started

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = PolicyStore(settings.policy_dir, process_env())
        try:
            the_gate, state = await open_gate(settings)
        except StateConfigError as exc:  # reachable at the preflight, gone since: one line, no traceback
            log.error("refusing to start: %s", exc)
            raise
        transports = HttpTransports(pool_size=settings.pool_size, pool_per_host=settings.pool_per_host)
        health = Health()
        images = ImageFetcher()
        observability = WorkerObservability(settings, store, health, state.usage if state else None, os.environ)
        recorder = observability.recorder
        executor = Executor(transports, health, events=recorder, deadlines=media_deadlines(settings.image_timeout))
        pipeline = Pipeline(store, registry, executor, health, the_gate, images)
        pipeline.recorder = recorder
        canaries = CanaryMonitor(
            lambda: store.current, state.engine if state is not None else None, on_state=recorder.canary_state
        )
        pipeline.canaries = canaries
        endpoints.pipeline = pipeline
        if state is not None:
            extra_routes[:] = state_routes(state, settings, pipeline, proxies, openai_error)
            app.router.routes.extend(extra_routes)
            endpoints.home = CONSOLE_HOME
        media.pipeline = MediaPipeline(pipeline, ImageStore(settings.data_dir / "images", settings.image_url_ttl))
        batches = None
        if state is not None:  # batch jobs live in the state database
            from engine.batch.service import BatchService

            batches = BatchService(state, pipeline, settings, proxies, openai_error)
            app.router.routes.extend(batches.routes())
            batches.start()
        endpoints.probe = state.reachability if state is not None else None
        observed[:] = [observability]
        observability.start()
        loop = asyncio.get_running_loop()

        def begin_drain() -> None:
            log.info("shutting down: in-flight answers get %gs to finish", settings.drain_timeout)
            endpoints.draining = True
            if batches is not None:
                batches.begin_drain()
            transports.drain(settings.drain_timeout)

        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
            loop.add_signal_handler(DRAIN_SIGNAL, begin_drain)
        stop = asyncio.Event()
        reloaded = recorder.reloaded
        watchers = (
            [
                asyncio.create_task(
                    watch_policy(store, stop, debounce_ms=settings.reload_debounce_ms, on_reload=reloaded)
                ),
                asyncio.create_task(watch_secrets(store, stop, on_reload=reloaded)),
            ]
            if settings.watch
            else []
        )
        watchers.append(asyncio.create_task(canaries.run(stop)))
        log.info("policy %s loaded from %s", store.current.version, settings.policy_dir)
        gc.freeze()  # startup objects (modules, policy, pools) never die: keep them out of GC passes
        try:
            yield
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(DRAIN_SIGNAL)
            stop.set()
            for watcher in watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if batches is not None:  # in-flight batch requests end (and are metered) before the store closes
                await batches.stop()
            await the_gate.close()
            if state is not None:
                await state.close()
            await images.close()
            await transports.close()
            await observability.close()

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        headers: dict[str, str] = dict(getattr(exc, "headers", None) or {})
        path = request.url.path
        err = GatewayError(f"{request.method} {path} is not an endpoint of this gateway", status=status)
        if status == 404:
            err = ModelNotFound(f"no such endpoint: {request.method} {path}", code="unknown_url")
        elif status == 405:
            allowed = headers.get("Allow") or headers.get("allow") or "another method"
            err = BadRequest(
                f"method {request.method} is not allowed on {path}: use {allowed}",
                status=405,
                code="method_not_allowed",
            )
        codec = registry.codec(_format_of(path))
        return Response(codec.encode_error(err), status_code=status, headers=headers, media_type="application/json")

    def openai_error(err: GatewayError) -> Response:
        body = registry.codec("openai").encode_error(err)
        return Response(body, status_code=err.status, headers=err.headers, media_type="application/json")

    async def internal(request: Request, exc: Exception) -> Response:
        request_id = request.state.request_id if hasattr(request.state, "request_id") else "-"
        log.exception("internal error in request %s", request_id)
        err = GatewayError(f"internal error (request id {request_id})")
        codec = registry.codec(_format_of(request.url.path))
        return Response(codec.encode_error(err), status_code=500, media_type="application/json")

    async def metrics(request: Request) -> Response:
        if not observed:
            raise RuntimeError("the gateway is not started")
        return Response(await observed[0].scrape(), headers={"content-type": CONTENT_TYPE})

    app = Starlette(
        routes=[*endpoints.routes(), *media.routes(), Route("/metrics", metrics, methods=["GET"])],
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_found, Exception: internal},
    )
    ids = RequestIds()
    app.add_middleware(RequestContext, version=endpoints.policy_version, ids=ids)
    return DataPlane(app, lambda: endpoints.pipeline, ids, settings.body_limit, proxies)


def create_app() -> ASGIApp:
    """Granian's factory: settings from the environment."""
    settings = load_settings()
    configure_logging(settings.log_level, json=settings.log_format == "json", sql=settings.log_sql)
    return build_app(settings)
