"""A scripted fake model upstream for coding-agent e2e tests, speaking all four wire formats.

Public API::

    from tests.support.agent_upstream import AgentScript, AgentUpstream

    script = AgentScript(tool="Bash", arguments={"command": "cat note.txt"}, answer_prefix="DONE: ",
                         cached_tokens=0)
    with AgentUpstream(script) as up:
        up.base_url            # http://127.0.0.1:PORT (routes match on the path's end: any prefix works)
        up.openai_base_url     # .../v1     POST /chat/completions, /responses, /responses/input_tokens
        up.anthropic_base_url  # .../v1     POST /messages, /messages/count_tokens
        up.gemini_base_url     # .../v1beta POST /models/{m}:generateContent,
                               #   :streamGenerateContent (?alt=sse: SSE; else a JSON array), :countTokens
        ...                    # run the agent through the gateway
        up.wait_idle()         # every request so far answered (records final)
        r = up.generations[-1] # or up.requests (everything, probes and 404s included)
        r.format               # "openai-chat" | "openai-responses" | "anthropic" | "gemini" | None
        r.kind                 # "generate" | "count_tokens" | "probe" | "models" | "unknown"
        r.path, r.query, r.headers (lower-case names), r.body (parsed JSON), r.stream, r.model, r.received_at
        r.tool_names           # declared tool names, in order
        r.roles                # system/developer/user/assistant/tool-call/tool-result, in order
        r.tool_results         # tool result texts;  r.tool_calls (Items: name, call_id, arguments)
        r.system_text, r.user_texts, r.items, r.has_tool_result
        r.answered             # "tool-call" | "answer" | "side" | "no-such-tool" | "count" | "probe" | "models" | "error"
        r.called_tool, r.call_arguments, r.reply_text, r.status
        up.script = AgentScript(...)  # replace the script between turns

What it answers a generation (``tests.support.agent_script.plan``): with tools declared and no
tool result in the conversation, ONE call to the scripted tool (matched by exact name, else by a
declared name ending with ``<separator><name>``, e.g. ``ns__Bash``; else a text listing the
offered tools), its arguments streamed in ``script.fragments`` pieces (a string argument for a
function of one string, e.g. a free-form tool a gateway flattened to ``{"input": ...}``, goes into
that parameter); with a tool result,
``answer_prefix`` + the last result's text (stop / end_turn / STOP); without tools, ``side_text``
("ok"). A Responses ``namespace`` tool's tools are listed (and matched) as ``<namespace>__<name>``, the
flat name gateways give them, and called as the API does, with ``namespace`` and the inner name.
Count-tokens endpoints answer the same deterministic estimate the usage reports
(conversation JSON length / 4); ``cached_tokens`` / ``input_tokens`` / ``output_tokens`` fix the
usage. ``HEAD /`` and ``GET /`` answer 200; ``GET .../models`` an empty list; anything else a 404
in the shape of the format the path suggests. Every request is recorded (``AgentRequest``).
Conversation readers: ``tests.support.agent_conversation``; renderers: ``agent_wire_*``.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.support import agent_wire_anthropic, agent_wire_gemini, agent_wire_openai
from tests.support.agent_conversation import Format, read_conversation
from tests.support.agent_request import AgentRequest, Kind
from tests.support.agent_script import AgentScript, Reply, counted_body, input_count, plan
from tests.support.background_server import BackgroundServer, ServedFake, wait_for_arrivals, wait_until_done

__all__ = ["AgentRequest", "AgentScript", "AgentUpstream", "Route", "route"]

JSON = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_GEMINI = re.compile(r"/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent|countTokens)$")


@dataclass(frozen=True, slots=True)
class Route:
    format: Format | None
    kind: Kind
    model: str | None = None  # Gemini names the model in the path
    stream: bool = False  # Gemini streams by path


def route(method: str, path: str) -> Route:
    """What a request is, by its method and path (any prefix before the known endings)."""
    if path == "/" and method in ("GET", "HEAD"):
        return Route(None, "probe")
    if method == "GET" and path.rstrip("/").endswith("/models"):
        return Route("gemini" if "v1beta" in path else "openai-chat", "models")
    if method == "POST":
        found = _GEMINI.search(path)
        if found is not None:
            verb = found["method"]
            kind: Kind = "count_tokens" if verb == "countTokens" else "generate"
            return Route("gemini", kind, found["model"], verb == "streamGenerateContent")
        endings: tuple[tuple[str, Format, Kind], ...] = (
            ("/chat/completions", "openai-chat", "generate"),
            ("/responses/input_tokens", "openai-responses", "count_tokens"),
            ("/responses", "openai-responses", "generate"),
            ("/messages/count_tokens", "anthropic", "count_tokens"),
            ("/messages", "anthropic", "generate"),
        )
        for ending, fmt, what in endings:
            if path.endswith(ending):
                return Route(fmt, what)
    return Route(None, "unknown")


def _error_body(fmt: Format | None, status: int, message: str) -> bytes:
    if fmt == "anthropic":
        return agent_wire_anthropic.error_body(status, message)
    if fmt == "gemini":
        return agent_wire_gemini.error_body(status, message)
    return agent_wire_openai.error_body(message)


def _guess_format(request: web.Request) -> Format:
    """The format whose 404 an unknown path gets: Gemini-looking paths, Anthropic clients (their
    ``anthropic-version`` header), else OpenAI."""
    if "v1beta" in request.path or ":" in request.path or "x-goog-api-key" in request.headers:
        return "gemini"
    return "anthropic" if "anthropic-version" in request.headers else "openai-chat"


def _whole(reply: Reply, fmt: Format) -> bytes:
    if fmt == "openai-chat":
        return agent_wire_openai.chat_body(reply)
    if fmt == "openai-responses":
        return agent_wire_openai.responses_body(reply)
    if fmt == "anthropic":
        return agent_wire_anthropic.body(reply)
    return agent_wire_gemini.body(reply)


def _frames(reply: Reply, fmt: Format) -> list[bytes]:
    if fmt == "openai-chat":
        return agent_wire_openai.chat_frames(reply)
    if fmt == "openai-responses":
        return agent_wire_openai.responses_frames(reply)
    if fmt == "anthropic":
        return agent_wire_anthropic.frames(reply)
    return agent_wire_gemini.frames(reply)


def _count_body(fmt: Format, tokens: int) -> bytes:
    if fmt == "anthropic":
        return agent_wire_anthropic.count(tokens)
    if fmt == "gemini":
        return agent_wire_gemini.count(tokens)
    return agent_wire_openai.responses_count(tokens)


class AgentUpstream(ServedFake):
    """A real HTTP server on 127.0.0.1 answering by ``script`` (see the module docstring)."""

    def __init__(self, script: AgentScript) -> None:
        self.script = script
        self._server = BackgroundServer(self._handle, "agent-upstream")
        self._arrived = threading.Condition()
        self._received: list[AgentRequest] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def gemini_base_url(self) -> str:
        return f"{self.base_url}/v1beta"

    # -- recordings --------------------------------------------------------------------

    @property
    def requests(self) -> list[AgentRequest]:
        """Every request received, in arrival order (probes and unknown paths included)."""
        with self._arrived:
            return list(self._received)

    @property
    def generations(self) -> list[AgentRequest]:
        """The model requests (``kind == "generate"``), in arrival order."""
        return [r for r in self.requests if r.kind == "generate"]

    def wait_for(self, count: int, kind: Kind | None = "generate", timeout: float = 30.0) -> list[AgentRequest]:
        """Block until ``count`` requests of ``kind`` (any kind for ``None``) arrived; return them."""
        keep = (lambda r: True) if kind is None else (lambda r: r.kind == kind)
        return wait_for_arrivals(
            self._arrived, self._received, keep, count, timeout, f"agent upstream ({kind or 'any kind'})"
        )

    def wait_idle(self, timeout: float = 30.0) -> list[AgentRequest]:
        """Block until every request received so far has been answered; return them all."""
        return wait_until_done(self.requests, timeout, lambda r: f"agent upstream request {r.index} ({r.path})")

    def reset(self) -> None:
        with self._arrived:
            self._received.clear()

    # -- serving -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        where = route(request.method, request.path)
        body = parsed if isinstance(parsed, dict) else {}
        model = where.model if where.model is not None else body.get("model")
        stream = where.stream if where.format == "gemini" else body.get("stream") is True
        with self._arrived:
            entry = AgentRequest(
                index=len(self._received),
                received_at=time.monotonic(),
                format=where.format,
                kind=where.kind,
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=parsed,
                model=model if isinstance(model, str) else None,
                stream=stream and where.kind == "generate",
            )
            if where.format is not None:
                entry.conversation = read_conversation(where.format, counted_body(where.format, parsed))
            self._received.append(entry)
            self._arrived.notify_all()
        try:
            return await self._answer(request, entry, where)
        finally:
            entry.done.set()

    async def _answer(self, request: web.Request, entry: AgentRequest, where: Route) -> web.StreamResponse:
        fmt = where.format
        if where.kind == "probe":
            entry.answered = "probe"
            return _respond(entry, 200, b"ok", "text/plain")
        if where.kind == "models":
            entry.answered = "models"
            listing = {"models": []} if fmt == "gemini" else {"object": "list", "data": []}
            return _respond(entry, 200, orjson.dumps(listing))
        if fmt is None or where.kind == "unknown":
            entry.answered = "error"
            message = f"Invalid URL ({request.method} {request.path})"
            return _respond(entry, 404, _error_body(_guess_format(request), 404, message))
        if not isinstance(entry.body, dict):
            entry.answered = "error"
            return _respond(entry, 400, _error_body(fmt, 400, "agent upstream: the body is not a JSON object"))
        if where.kind == "count_tokens":
            tokens = input_count(self.script, fmt, entry.body)
            entry.answered, entry.reply_text = "count", str(tokens)
            return _respond(entry, 200, _count_body(fmt, tokens))
        try:
            reply = plan(self.script, entry)
        except Exception as exc:  # a failing arguments callable: answer 500 and keep the reason
            entry.answered, entry.reply_text = "error", f"agent script failed: {exc!r}"
            return _respond(entry, 500, _error_body(fmt, 500, entry.reply_text))
        entry.answered, entry.reply_text = reply.kind, reply.text
        if reply.call is not None:
            entry.called_tool, entry.call_arguments = reply.call.name, reply.call.arguments
        if not entry.stream:
            return _respond(entry, 200, _whole(reply, fmt))
        if fmt == "gemini" and request.query.get("alt") != "sse":
            return _respond(entry, 200, agent_wire_gemini.array(reply))
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        entry.status = 200
        await response.prepare(request)
        for frame in _frames(reply, fmt):
            await response.write(frame)
        await response.write_eof()
        return response


def _respond(entry: AgentRequest, status: int, body: bytes, content_type: str = JSON) -> web.Response:
    entry.status = status
    return web.Response(status=status, body=body, headers={"Content-Type": content_type})
