"""The batch HTTP routes: the seed API (``/v1/batch``) and OpenAI's Files and Batches APIs
(``/v1/files``, ``/v1/batches``). A key sees only its own files and jobs (another key's
id is a 404, as if it did not exist). Errors are OpenAI-shaped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.access import Principal
from engine.batch.callback import check_target
from engine.batch.model import SEED_TIERS, checked_endpoint, openai_lines, owner_of, seed_lines
from engine.batch.multipart import form_parts
from engine.batch.runner import BatchRunner
from engine.batch.store import BatchStore, NewJob
from engine.batch.wire import job_of_file, openai_batch, openai_file, result_file, result_file_object, seed_job
from engine.errors import BadRequest, GatewayError, ModelNotFound
from engine.http.json_body import parse_json

Authenticate = Callable[[Request], Awaitable[Principal]]
ReadBody = Callable[[Request], Awaitable[bytes]]
RenderError = Callable[[GatewayError], Response]
Handler = Callable[[Request, Principal], Awaitable[Response]]

PURPOSE = "batch"
LIST_LIMIT = 100


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _missing(what: str, ident: str) -> ModelNotFound:
    return ModelNotFound(f"no such {what}: {ident}", code="not_found")


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {LIST_LIMIT}", param="limit")
    return int(raw)


class BatchApi:
    def __init__(
        self,
        store: BatchStore,
        runner: BatchRunner,
        authenticate: Authenticate,
        read_body: ReadBody,
        render_error: RenderError,
        allow_private_callbacks: bool,
    ) -> None:
        self.store = store
        self.runner = runner
        self.authenticate = authenticate
        self.read_body = read_body
        self.render_error = render_error
        self.allow_private_callbacks = allow_private_callbacks

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request, await self.authenticate(request))
            except GatewayError as err:
                return self.render_error(err)

        return endpoint

    async def _json_body(self, request: Request) -> dict[str, Any]:
        body = parse_json(await self.read_body(request))
        if not isinstance(body, dict):
            raise BadRequest("expected a JSON object")
        return body

    # ---- the seed API -----------------------------------------------------------------

    def _poll_url(self, request: Request, job_id: str) -> str:
        return str(request.url_for("seed_batch", job_id=job_id))

    async def seed_submit(self, request: Request, principal: Principal) -> Response:
        body = await self._json_body(request)
        tier = body.get("tier", "batch_50")
        if tier not in SEED_TIERS:
            raise BadRequest(f"tier {tier!r} is not offered: use batch_50", param="tier")
        lines = seed_lines(body.get("requests"))
        callback = body.get("callback_url")
        if callback is not None:
            if not isinstance(callback, str):
                raise BadRequest("callback_url must be a URL", param="callback_url")
            await check_target(callback, self.allow_private_callbacks)
        spec = NewJob(owner_of(principal), principal, "seed", "/v1/chat/completions", lines, callback_url=callback)
        job, secret = await self.store.create(spec)
        self.runner.wake()
        document = seed_job(job, self._poll_url(request, job.id), None)
        if secret is not None:
            document["callback_secret"] = secret  # shown once: it verifies the callback's signature
        return _json(document, 202)

    async def seed_show(self, request: Request, principal: Principal) -> Response:
        job_id = request.path_params["job_id"]
        job = await self.store.job(job_id, owner_of(principal))
        if job is None:
            raise _missing("batch", job_id)
        results = await self.store.results(job.id) if job.finished else None
        return _json(seed_job(job, self._poll_url(request, job.id), results))

    async def seed_list(self, request: Request, principal: Principal) -> Response:
        jobs = await self.store.jobs(owner_of(principal), _limit(request), request.query_params.get("after"))
        data = [seed_job(job, self._poll_url(request, job.id), None) for job in jobs]
        return _json({"object": "list", "data": data})

    async def seed_cancel(self, request: Request, principal: Principal) -> Response:
        job_id = request.path_params["job_id"]
        job = await self.store.cancel(job_id, owner_of(principal))
        if job is None:
            raise _missing("batch", job_id)
        return _json(seed_job(job, self._poll_url(request, job.id), None))

    # ---- OpenAI Files -----------------------------------------------------------------

    async def file_upload(self, request: Request, principal: Principal) -> Response:
        parts = form_parts(request.headers.get("content-type", ""), await self.read_body(request))
        purpose = parts["purpose"].content.decode(errors="replace") if "purpose" in parts else ""
        if purpose != PURPOSE:
            raise BadRequest(f"purpose {purpose!r} is not supported here: only 'batch' files", param="purpose")
        if "file" not in parts:
            raise BadRequest("the form has no 'file' part", param="file")
        upload = parts["file"]
        stored = await self.store.add_file(
            owner_of(principal), purpose, upload.filename or "upload.jsonl", upload.content
        )
        return _json(openai_file(stored))

    async def _result_file(self, file_id: str, principal: Principal) -> tuple[dict[str, Any], bytes] | None:
        found = job_of_file(file_id)
        if found is None:
            return None
        job = await self.store.job(found[0], owner_of(principal))
        if job is None or not job.finished:
            return None
        content = result_file(job.id, await self.store.results(job.id), found[1])
        return result_file_object(job, found[1], len(content)), content

    async def file_show(self, request: Request, principal: Principal) -> Response:
        file_id = request.path_params["file_id"]
        stored = await self.store.file(owner_of(principal), file_id)
        if stored is not None:
            return _json(openai_file(stored))
        result = await self._result_file(file_id, principal)
        if result is None:
            raise _missing("file", file_id)
        return _json(result[0])

    async def file_content(self, request: Request, principal: Principal) -> Response:
        file_id = request.path_params["file_id"]
        content = await self.store.file_content(owner_of(principal), file_id)
        if content is None:
            result = await self._result_file(file_id, principal)
            if result is None:
                raise _missing("file", file_id)
            content = result[1]
        return Response(content, media_type="application/jsonl")

    async def file_list(self, request: Request, principal: Principal) -> Response:
        files = [openai_file(f) for f in await self.store.files(owner_of(principal))]
        return _json({"object": "list", "data": files, "has_more": False})

    async def file_delete(self, request: Request, principal: Principal) -> Response:
        file_id = request.path_params["file_id"]
        if not await self.store.delete_file(owner_of(principal), file_id):
            raise _missing("file", file_id)
        return _json({"id": file_id, "object": "file", "deleted": True})

    # ---- OpenAI Batches ---------------------------------------------------------------

    async def batch_create(self, request: Request, principal: Principal) -> Response:
        body = await self._json_body(request)
        endpoint = checked_endpoint(body.get("endpoint"))
        if body.get("completion_window", "24h") != "24h":
            raise BadRequest("completion_window must be '24h'", param="completion_window")
        file_id = body.get("input_file_id")
        owner = owner_of(principal)
        content = await self.store.file_content(owner, file_id) if isinstance(file_id, str) else None
        if content is None:
            raise _missing("file", str(file_id))
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise BadRequest("metadata must be an object", param="metadata")
        lines = openai_lines(content, endpoint)
        job, _ = await self.store.create(NewJob(owner, principal, "openai", endpoint, lines, str(file_id), meta))
        self.runner.wake()
        return _json(openai_batch(job))

    async def batch_show(self, request: Request, principal: Principal) -> Response:
        job_id = request.path_params["job_id"]
        job = await self.store.job(job_id, owner_of(principal))
        if job is None:
            raise _missing("batch", job_id)
        return _json(openai_batch(job))

    async def batch_cancel(self, request: Request, principal: Principal) -> Response:
        job_id = request.path_params["job_id"]
        job = await self.store.cancel(job_id, owner_of(principal))
        if job is None:
            raise _missing("batch", job_id)
        return _json(openai_batch(job))

    async def batch_list(self, request: Request, principal: Principal) -> Response:
        limit = _limit(request)
        jobs = await self.store.jobs(owner_of(principal), limit + 1, request.query_params.get("after"))
        data = [openai_batch(job) for job in jobs[:limit]]
        return _json(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(jobs) > limit,
            }
        )

    def routes(self) -> list[BaseRoute]:
        e = self._endpoint
        routes: list[BaseRoute] = []
        for prefix in ("/v1", ""):
            named = prefix == "/v1"
            routes += [
                Route(f"{prefix}/batch", e(self.seed_submit), methods=["POST"]),
                Route(f"{prefix}/batch", e(self.seed_list), methods=["GET"]),
                Route(
                    f"{prefix}/batch/{{job_id}}",
                    e(self.seed_show),
                    methods=["GET"],
                    name="seed_batch" if named else None,
                ),
                Route(f"{prefix}/batch/{{job_id}}/cancel", e(self.seed_cancel), methods=["POST"]),
                Route(f"{prefix}/files", e(self.file_upload), methods=["POST"]),
                Route(f"{prefix}/files", e(self.file_list), methods=["GET"]),
                Route(f"{prefix}/files/{{file_id}}", e(self.file_show), methods=["GET"]),
                Route(f"{prefix}/files/{{file_id}}", e(self.file_delete), methods=["DELETE"]),
                Route(f"{prefix}/files/{{file_id}}/content", e(self.file_content), methods=["GET"]),
                Route(f"{prefix}/batches", e(self.batch_create), methods=["POST"]),
                Route(f"{prefix}/batches", e(self.batch_list), methods=["GET"]),
                Route(f"{prefix}/batches/{{job_id}}", e(self.batch_show), methods=["GET"]),
                Route(f"{prefix}/batches/{{job_id}}/cancel", e(self.batch_cancel), methods=["POST"]),
            ]
        return routes
