"""The built-in demo upstream: a deterministic, in-process OpenAI chat-completions server.

The shipped ``demo`` channel (base URL ``demo://local``) points here, so Turnout can be tried
and tested without any vendor account. It reads the model from the request body and behaves
by name:

===================  ===========================================================================
``demo-echo``        answers per ``providers.demo.echo`` (echo, tool call, tool result,
                     the rest of a prefilled answer)
``demo-prefill``     the same (the shipped policy declares its ``prefill`` capability)
``demo-slow``        waits ``slow_delay`` (5 s) before answering (cancellable), then echoes
``demo-fail-500``    500 ``server_error``
``demo-fail-429``    429 ``rate_limit_exceeded`` with ``retry-after: 1``
``demo-cut``         streamed: role chunk + 2 text chunks, then ``ConnectionResetError`` from
                     the body iterator; not streamed: ``ConnectionResetError`` from ``respond``
``demo-context``     400 ``context_length_exceeded``
``demo-refuse``      400 ``content_policy_violation``
``demo-embed``       ``/embeddings``: vectors from the bundled local model (``providers.demo.media``)
``demo-image``       ``/images/generations`` and ``/images/edits``: a small PNG drawn from the prompt
anything else        404 ``model_not_found``
===================  ===========================================================================

Ids are derived from a hash of the request body and ``created`` is fixed, so equal requests
get byte-identical answers. Header names are lower-case.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from engine.errors import BadRequest
from providers.base import UpstreamRequest
from providers.demo import media
from providers.demo.echo import echo_answer, message_text, tokens
from providers.demo.render import (
    Identity,
    completion_body,
    error_body,
    stream_frames,
    text_frames,
)

CREATED = 1767225600  # 2026-01-01T00:00:00Z
_JSON = "application/json"
_SSE = "text/event-stream"


@dataclass(slots=True)
class DemoReply:
    status: int
    headers: dict[str, str]
    body: AsyncIterator[bytes]


class DemoUpstream:
    """``sleep`` is injectable so tests need not wait for ``demo-slow``."""

    def __init__(self, *, slow_delay: float = 5.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._slow_delay = slow_delay
        self._sleep = sleep

    async def respond(self, request: UpstreamRequest) -> DemoReply:
        digest = hashlib.sha256(request.body).hexdigest()
        headers = {"x-request-id": f"req_demo_{digest[:24]}"}
        path = urlsplit(request.url).path
        if request.method == "POST" and path.endswith(("/embeddings", "/images/generations", "/images/edits")):
            return await _media(path, request, headers)
        if request.method != "POST" or not path.endswith("/chat/completions"):
            message = f"Unknown request URL: {request.method} {path or '/'}."
            return _error(404, headers, message, "invalid_request_error", code="unknown_url")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _error(400, headers, "We could not parse the JSON body of your request.", "invalid_request_error")
        model = body.get("model")
        name = model if isinstance(model, str) else ""
        ident = Identity(f"chatcmpl-demo{digest[:24]}", f"call_demo{digest[24:48]}", CREATED, name)
        streaming = body.get("stream") is True
        if name == "demo-slow":
            await self._sleep(self._slow_delay)
            return _echo(body, ident, headers, streaming)
        if name in ("demo-echo", "demo-prefill"):
            return _echo(body, ident, headers, streaming)
        if name == "demo-cut":
            if not streaming:
                raise ConnectionResetError("demo-cut: connection reset by peer")
            frames = text_frames(echo_answer(body), ident, include_usage=_include_usage(body), count=2)
            return DemoReply(200, headers | {"content-type": _SSE}, _cut_after(frames))
        return _failure(name, body, headers)


async def respond(request: UpstreamRequest) -> DemoReply:
    """What the executor calls for a ``demo://`` URL."""
    return await DemoUpstream().respond(request)


async def _media(path: str, request: UpstreamRequest, headers: dict[str, str]) -> DemoReply:
    """``demo-embed`` and ``demo-image`` (``providers.demo.media``)."""
    if path.endswith("/images/edits"):
        content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
        try:
            status, body = media.image_edit(request.body, content_type)
        except BadRequest as exc:
            return _error(400, headers, exc.message, "invalid_request_error")
        return DemoReply(status, headers | {"content-type": _JSON}, _yield([body]))
    try:
        parsed = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        return _error(400, headers, "We could not parse the JSON body of your request.", "invalid_request_error")
    if path.endswith("/embeddings"):
        status, body = await media.embeddings(parsed)
    else:
        status, body = media.images(parsed, [])
    return DemoReply(status, headers | {"content-type": _JSON}, _yield([body]))


def _echo(body: dict[str, Any], ident: Identity, headers: dict[str, str], streaming: bool) -> DemoReply:
    answer = echo_answer(body)
    if streaming:
        frames = stream_frames(answer, ident, include_usage=_include_usage(body))
        return DemoReply(200, headers | {"content-type": _SSE}, _yield(frames))
    return DemoReply(200, headers | {"content-type": _JSON}, _yield([completion_body(answer, ident)]))


def _failure(name: str, body: dict[str, Any], headers: dict[str, str]) -> DemoReply:
    if name == "demo-fail-500":
        message = "The server had an error while processing your request. Sorry about that!"
        return _error(500, headers, message, "server_error")
    if name == "demo-fail-429":
        message = f"Rate limit reached for {name} on requests per min (RPM): Limit 1, Used 1, Requested 1."
        return _error(429, headers | {"retry-after": "1"}, message, "requests", code="rate_limit_exceeded")
    if name == "demo-context":
        size = sum(len(message_text(m)) for m in body.get("messages") or [] if isinstance(m, dict))
        message = (
            "This model's maximum context length is 128000 tokens. However, your messages resulted in "
            f"{128000 + tokens(size)} tokens. Please reduce the length of the messages."
        )
        return _error(400, headers, message, "invalid_request_error", code="context_length_exceeded", param="messages")
    if name == "demo-refuse":
        message = "Your request was rejected as a result of our safety system."
        return _error(400, headers, message, "invalid_request_error", code="content_policy_violation")
    message = f"The model `{name}` does not exist or you do not have access to it."
    return _error(404, headers, message, "invalid_request_error", code="model_not_found")


def _error(
    status: int,
    headers: dict[str, str],
    message: str,
    kind: str,
    *,
    code: str | None = None,
    param: str | None = None,
) -> DemoReply:
    body = error_body(message, kind, code=code, param=param)
    return DemoReply(status, headers | {"content-type": _JSON}, _yield([body]))


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def _yield(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _cut_after(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    raise ConnectionResetError("demo-cut: connection reset by peer")
