"""Batch jobs inside a worker: the store, the runner, the callback sender and the routes,
built together by the app's lifespan once the state store is open."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.requests import Request
from starlette.routing import BaseRoute

from engine.access import Principal
from engine.batch.callback import CallbackSender
from engine.batch.routes import BatchApi, RenderError
from engine.batch.runner import BatchRunner, Limits
from engine.batch.store import BatchStore
from engine.batch.wire import seed_job
from engine.http.client_ip import Network, client_ip
from engine.http.client_request import credential_for, read_body
from engine.pipeline import Pipeline
from engine.settings import Settings
from engine.state import State
from engine.state.errors import NotFound


class BatchService:
    def __init__(
        self,
        state: State,
        pipeline: Pipeline,
        settings: Settings,
        proxies: tuple[Network, ...],
        render_error: RenderError,
    ) -> None:
        self.store = BatchStore(state.engine)
        self._keys = state.keys
        self._pipeline = pipeline
        self._settings = settings
        self._proxies = proxies
        self._callbacks = CallbackSender(settings.batch_callback_allow_private)
        limits = Limits(settings.batch_per_key, settings.batch_per_channel, settings.batch_callback_backoff)
        self.runner = BatchRunner(self.store, pipeline, limits, self._callbacks, self._callback_body, self._key_problem)
        self._api = BatchApi(
            self.store,
            self.runner,
            self._authenticate,
            self._read_body,
            render_error,
            settings.batch_callback_allow_private,
        )

    def routes(self) -> list[BaseRoute]:
        return self._api.routes()

    def start(self) -> None:
        self.runner.start()

    def begin_drain(self) -> None:
        self.runner.begin_drain()

    async def stop(self) -> None:
        await self.runner.stop(self._settings.drain_timeout)
        await self._callbacks.close()

    async def _authenticate(self, request: Request) -> Principal:
        peer = request.client.host if request.client else "127.0.0.1"
        ip = client_ip(peer, request.headers.get("x-forwarded-for"), self._proxies)
        credential = credential_for("openai", request.headers, request.scope["query_string"])
        return await self._pipeline.gate.authenticate(credential, ip, self._pipeline.store.current)

    async def _read_body(self, request: Request) -> bytes:
        headers = request.headers
        return await read_body(
            request.receive, headers.get("content-length"), self._settings.body_limit, headers.get("content-encoding")
        )

    async def _key_problem(self, key_id: str) -> str | None:
        try:
            key = await self._keys.get(key_id)
        except NotFound:
            return "the API key of this batch job was deleted"
        if not key.enabled:
            return f"API key '{key.name}' is disabled"
        if key.expired(datetime.now(UTC)):
            return f"API key '{key.name}' has expired"
        return None

    async def _callback_body(self, job_id: str) -> bytes | None:
        job = await self.store.job(job_id)
        if job is None:
            return None
        return orjson.dumps(seed_job(job, f"/v1/batch/{job.id}", await self.store.results(job.id)))
