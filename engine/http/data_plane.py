"""The client API's hot POST endpoints as a pure ASGI layer in front of Starlette.

``POST /v1/chat/completions``, ``/v1/responses`` and ``/v1/messages`` (with or without
``/v1``, and the ``/v1/v1`` some clients send) are recognised by exact path and handed
to the pipeline with the raw ASGI headers: no route scan, no Starlette ``Request`` or
``Response`` objects, no middleware frames. Everything else passes to the Starlette app.
An unexpected exception becomes a 500 in the client's format with the request id (the
traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from engine.errors import GatewayError
from engine.http.client_ip import Network, client_ip
from engine.http.client_request import (
    DATA_PLANE_FORMATS,
    ClientGone,
    credential_for,
    read_body,
)
from engine.http.reply import Reply
from engine.http.request_ids import RequestIds
from engine.pipeline import Ingress, Pipeline

log = logging.getLogger("turnout")

PATHS = {prefix + path: fmt for path, fmt in DATA_PLANE_FORMATS.items() for prefix in ("/v1", "")}


def client_path(path: str) -> str:
    """The path without the doubled ``/v1`` of a base URL that already ended in /v1."""
    while path.startswith("/v1/v1/") or path.startswith("/v1beta/v1beta/"):
        path = path[path.index("/", 1) :]
    return path


class DataPlane:
    def __init__(
        self,
        app: ASGIApp,
        pipeline: Callable[[], Pipeline],
        ids: RequestIds,
        body_limit: int,
        proxies: tuple[Network, ...],
    ) -> None:
        self.app = app
        self._pipeline = pipeline
        self._ids = ids
        self._body_limit = body_limit
        self._proxies = proxies

    @property
    def pipeline(self) -> Pipeline:
        """The worker's pipeline (once the lifespan started it)."""
        return self._pipeline()

    def _unread(self, scope: Scope, fmt: str, headers: dict[str, str], request_id: str) -> Ingress:
        """What the access log and metrics need of a request whose body was not read."""
        return Ingress(fmt, client_path(scope["path"]), b"", None, "", headers, request_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fmt = None
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            fmt = PATHS.get(path) or PATHS.get(client_path(path))
        if fmt is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        request_id = self._ids.for_request(raw)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
        pipeline = self._pipeline()
        try:
            encoding = headers.get("content-encoding")
            body = await read_body(receive, headers.get("content-length"), self._body_limit, encoding)
        except ClientGone:
            pipeline.recorder.unread(self._unread(scope, fmt, headers, request_id), started, 499, "client_disconnected")
            return
        except GatewayError as err:
            pipeline.recorder.unread(self._unread(scope, fmt, headers, request_id), started, err.status, err.kind)
            policy = pipeline.store.current
            await pipeline.error_response(pipeline.registry.codec(fmt), err, pipeline.base_headers(policy, request_id))(
                scope, receive, send
            )
            return
        peer = scope["client"][0] if scope.get("client") else "127.0.0.1"
        query = scope.get("query_string", b"")
        ingress = Ingress(
            fmt=fmt,
            endpoint=client_path(scope["path"]),
            body=body,
            credential=credential_for(fmt, headers, query),
            client_ip=client_ip(peer, headers.get("x-forwarded-for"), self._proxies),
            headers=headers,
            request_id=request_id,
        )
        try:
            answer = await pipeline.handle(ingress)
        except Exception:
            log.exception("internal error in request %s", request_id)
            internal = GatewayError(f"internal error (request id {request_id})")
            headers_out = pipeline.base_headers(pipeline.store.current, request_id)
            answer = Reply(pipeline.registry.codec(fmt).encode_error(internal), 500, headers_out)
        await answer(scope, receive, send)
