"""A fault-injecting fake upstream: a real local server whose model names choose its failures.

It speaks OpenAI chat completions (``POST .../chat/completions``) and Anthropic Messages
(``POST .../messages``), streamed and not, and answers ``w1 w2 ... wN`` (continuing a
prefill where it stopped, see ``tests.support.fault_text``). The model name picks the
misbehaviour, so a policy points models at behaviours with no scripting: ``m+cut3``,
``p+429-ra1``, ``q+500once``, ``b+noprefill`` (grammar in ``tests.support.fault_plan``)::

    with FaultUpstream() as fake:
        # channel base_url = fake.base_url; models = { "primary" = "p+cut3", "backup" = "b" }
        ...
        [first, second] = fake.requests
        assert second.prefill == "w1 w2 w3" and second.text_sent == " w4 w5 w6 w7 w8 w9 w10"
        assert fake.gaps("p+429-ra1")[0] >= 1.0

Every request is recorded (``FaultRequest``): time, model, path, headers, parsed body, its
1-based count for that model, the prefill it carried, what was played, the status, the
SSE frames and content frames sent, the text sent, and whether the client went away.
Requests are counted per full model name. The server thread fills a record in while it
answers: read it after ``wait_idle()`` (or its ``done`` event). Clocks are ``time.monotonic()`` (system-wide on
Linux, so comparable with a gateway's).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.support.background_server import BackgroundServer, ServedFake, wait_for_arrivals, wait_until_done
from tests.support.fault_plan import Behaviour, Fault, FaultPlan, FaultSyntaxError, parse_model
from tests.support.fault_text import make_answer
from tests.support.fault_wire import WIRES, RequestFacts, Turn, WireFormat

JSON = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


@dataclass(slots=True)
class FaultRequest:
    """One request the fake received, and what it did with it."""

    index: int  # 1-based count of requests naming this model (all requests without a model share one count)
    model: str | None
    wire: str | None  # "openai" | "anthropic" by path; None for other paths
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any  # the parsed body, None when it was not JSON
    received_at: float
    stream: bool = False
    prefill: str | None = None  # the trailing assistant message's text; None when the last message is not one
    played: str = "ok"  # the faults applied (``cut3``, ``429-ra2``, ``slow2s+cut3``) or ``ok``
    status: int | None = None  # the HTTP status sent; None when no response started (reset, hang)
    frames_sent: int = 0  # SSE events and keep-alive comments written
    content_frames: int = 0  # frames carrying a piece of the answer (a word)
    text_sent: str = ""  # the answer text those frames carried (a whole non-streamed answer's text)
    first_token_at: float | None = None
    finished_at: float | None = None  # the reply was sent completely (as the fault meant it)
    closed_at: float | None = None  # the client went away before that
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def disconnected(self) -> bool:
        return self.closed_at is not None

    @property
    def ended_at(self) -> float | None:
        return self.finished_at if self.finished_at is not None else self.closed_at


class FaultUpstream(ServedFake):
    """``keepalive_s``: the period of keep-alives while a ``slow`` stream waits for its
    first token; ``hang_s``: how long ``hang`` and ``stall`` keep a connection before
    dropping it (a client normally leaves first)."""

    def __init__(self, keepalive_s: float = 0.25, hang_s: float = 300.0) -> None:
        self.keepalive_s = keepalive_s
        self.hang_s = hang_s
        self._server = BackgroundServer(self._handle, "fault-upstream")
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._received: list[FaultRequest] = []
        self._counts: dict[str | None, int] = {}
        self._first_seen: dict[str | None, float] = {}

    @property
    def base_url(self) -> str:
        """What a channel's ``base_url`` points at: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- recordings --------------------------------------------------------------------

    @property
    def requests(self) -> list[FaultRequest]:
        with self._lock:
            return list(self._received)

    def requests_for(self, model: str) -> list[FaultRequest]:
        return [r for r in self.requests if r.model == model]

    def count(self, model: str) -> int:
        with self._lock:
            return self._counts.get(model, 0)

    def gaps(self, model: str) -> list[float]:
        """Seconds between consecutive arrivals of requests naming ``model`` (backoff,
        ``Retry-After``); compare ``received_at`` with a request's ``ended_at`` for the
        pause after a reply."""
        times = [r.received_at for r in self.requests_for(model)]
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def wait_for(self, count: int, model: str | None = None, timeout: float = 10.0) -> list[FaultRequest]:
        """Block until ``count`` requests (naming ``model``, when given) arrived."""
        keep = (lambda r: True) if model is None else (lambda r: r.model == model)
        return wait_for_arrivals(self._arrived, self._received, keep, count, timeout, "fault upstream")

    def wait_idle(self, timeout: float = 10.0) -> list[FaultRequest]:
        """Block until every request received so far is over (answered, dropped, or left
        by its client), so its record is final."""
        return wait_until_done(self.requests, timeout, lambda r: f"request {r.index} for {r.model!r}")

    def reset(self) -> None:
        """Forget recordings and per-model counts."""
        with self._lock:
            self._received.clear()
            self._counts.clear()
            self._first_seen.clear()

    def _record(self, entry: FaultRequest) -> float:
        """Store ``entry`` with its per-model index; return seconds since the model's first request."""
        with self._arrived:
            self._counts[entry.model] = entry.index = self._counts.get(entry.model, 0) + 1
            first = self._first_seen.setdefault(entry.model, entry.received_at)
            self._received.append(entry)
            self._arrived.notify_all()
        return entry.received_at - first

    # -- serving -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        model = parsed.get("model") if isinstance(parsed, dict) else None
        entry = FaultRequest(
            index=0,
            model=model if isinstance(model, str) else None,
            wire=_wire_of(request.method, request.path),
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=raw,
            json=parsed,
            received_at=time.monotonic(),
        )
        since_first = self._record(entry)
        try:
            return await self._answer(request, entry, since_first)
        except asyncio.CancelledError:
            entry.closed_at = time.monotonic()
            raise
        finally:
            entry.done.set()

    async def _answer(self, request: web.Request, entry: FaultRequest, since_first: float) -> web.StreamResponse:
        if request.method == "GET" and request.path.rstrip("/").endswith("/models"):
            return _json(entry, 200, orjson.dumps({"object": "list", "data": []}))
        if entry.wire is None or entry.model is None:
            message = f"fault upstream: no route for {request.method} {request.path} (or no model in the body)"
            return _json(entry, 404, _openai_error(message))
        wire = WIRES[entry.wire]
        try:
            plan = parse_model(entry.model)
        except FaultSyntaxError as exc:
            return _json(entry, 400, _openai_error(str(exc)))
        facts = wire.facts(entry.json)
        entry.stream, entry.prefill = facts.stream, facts.prefill
        behaviour = plan.behaviour(entry.index, since_first, facts.prefill is not None)
        entry.played = behaviour.label
        fault = behaviour.answer
        if fault is not None and fault.kind != "refusal":
            return await self._fail(request, entry, wire, fault)
        if wire.name == "anthropic" and facts.prefill and facts.prefill[-1].isspace():
            entry.played = "trailing_whitespace"  # what the real Anthropic API answers such a prefill
            return _json(entry, 400, wire.error_body("trailing_whitespace"))
        turn = _turn(entry, plan, facts)
        late = behaviour.find("late")
        if late is not None:
            await asyncio.sleep(late.seconds)
        if fault is not None:  # refusal
            if facts.stream:
                return await self._refusal_stream(request, entry, wire, turn)
            return _json(entry, 200, wire.refusal(turn))
        if facts.stream:
            return await _StreamPlayer(self, request, entry, wire, turn, behaviour, plan.delay_s).play()
        return await self._complete(request, entry, wire, turn, behaviour)

    async def _fail(self, request: web.Request, entry: FaultRequest, wire: WireFormat, fault: Fault) -> web.Response:
        if fault.kind in ("reset", "hang"):
            if fault.kind == "hang":
                await asyncio.sleep(self.hang_s)
            _drop(request, reset=fault.kind == "reset")
            entry.finished_at = time.monotonic()
            return web.Response(status=500)  # never sent: the connection is gone
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return _json(entry, fault.status, wire.error_body(fault.status), headers)
        return _json(entry, 400, wire.error_body(fault.kind))  # context, filter, noprefill

    async def _complete(
        self, request: web.Request, entry: FaultRequest, wire: WireFormat, turn: Turn, behaviour: Behaviour
    ) -> web.StreamResponse:
        """A non-streamed answer: ``slow`` sends headers at once and the body after its
        delay; ``cut`` / ``stall`` send half the body, then drop / go silent; ``error``
        is an error object in a 200 body; ``bad`` and ``noterm`` do not apply."""
        body = wire.in_band_error_body() if behaviour.find("error") else wire.completion(turn)
        slow, cut, stall = behaviour.find("slow"), behaviour.find("cut"), behaviour.find("stall")
        if slow is None and cut is None and stall is None:
            entry.text_sent = turn.answer.text
            return _json(entry, 200, body)
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        response.content_length = len(body)
        await response.prepare(request)
        entry.status = 200
        try:
            if slow is not None:
                await asyncio.sleep(slow.seconds)
            if cut is None and stall is None:
                await response.write(body)
                await response.write_eof()
                entry.text_sent = turn.answer.text
                entry.finished_at = time.monotonic()
                return response
            await response.write(body[: len(body) // 2])
            if stall is not None:
                await asyncio.sleep(self.hang_s)
            _drop(request, reset=False)
            entry.finished_at = time.monotonic()
        except ConnectionResetError:
            entry.closed_at = time.monotonic()
        return response

    async def _refusal_stream(
        self, request: web.Request, entry: FaultRequest, wire: WireFormat, turn: Turn
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        await response.prepare(request)
        entry.status = 200
        try:
            for frame in wire.refusal_stream(turn):
                await response.write(frame)
                entry.frames_sent += 1
            await response.write_eof()
            entry.finished_at = time.monotonic()
        except ConnectionResetError:
            entry.closed_at = time.monotonic()
        return response


class _StreamPlayer:
    """Plays one streamed answer with its stream-level faults. A fault "after N content
    frames" fires before content frame N+1 (N past the end: before the finish)."""

    def __init__(
        self,
        fake: FaultUpstream,
        request: web.Request,
        entry: FaultRequest,
        wire: WireFormat,
        turn: Turn,
        behaviour: Behaviour,
        delay_s: float,
    ) -> None:
        self.fake, self.request, self.entry, self.wire, self.turn = fake, request, entry, wire, turn
        self.behaviour, self.delay_s = behaviour, delay_s
        self.response = web.StreamResponse(status=200, headers=SSE_HEADERS)

    async def play(self) -> web.StreamResponse:
        entry, wire, pieces = self.entry, self.wire, self.turn.answer.pieces
        await self.response.prepare(self.request)
        entry.status = 200
        try:
            await self._send(wire.head(self.turn))
            slow = self.behaviour.find("slow")
            if slow is not None:
                await self._keep_alive(slow.seconds)
            for index in range(len(pieces) + 1):
                if await self._checkpoint(index, len(pieces)):
                    return self.response
                if index and self.delay_s:
                    await asyncio.sleep(self.delay_s)
                if index == len(pieces):
                    break
                await self._send(wire.piece(self.turn, index))
                entry.content_frames += 1
                entry.text_sent += pieces[index]
                if entry.first_token_at is None:
                    entry.first_token_at = time.monotonic()
            await self._send(wire.tail(self.turn))
            if self.behaviour.find("noterm") is None:
                await self._send([wire.terminator])
            await self.response.write_eof()
            entry.finished_at = time.monotonic()
        except ConnectionResetError:
            entry.closed_at = time.monotonic()
        return self.response

    async def _send(self, frames: list[bytes]) -> None:
        for frame in frames:
            await self.response.write(frame)
            self.entry.frames_sent += 1

    async def _keep_alive(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            await asyncio.sleep(min(left, self.fake.keepalive_s))
            if until - time.monotonic() > 0:
                await self._send([self.wire.keepalive])

    def _at(self, kind: str, index: int, total: int) -> bool:
        fault = self.behaviour.find(kind)
        return fault is not None and min(fault.frames, total) == index

    async def _checkpoint(self, index: int, total: int) -> bool:
        """Play the faults due before content frame ``index``; True when the stream is over."""
        if self._at("bad", index, total):
            await self._send([self.wire.garbage])
        if self._at("error", index, total):
            await self._send([self.wire.in_band_error])
            await self.response.write_eof()
            self.entry.finished_at = time.monotonic()
            return True
        if self._at("cut", index, total):
            _drop(self.request, reset=False)
            self.entry.finished_at = time.monotonic()
            return True
        if self._at("stall", index, total):
            await asyncio.sleep(self.fake.hang_s)
            _drop(self.request, reset=False)
            self.entry.finished_at = time.monotonic()
            return True
        return False


def _turn(entry: FaultRequest, plan: FaultPlan, facts: RequestFacts) -> Turn:
    tool = (facts.tool or "lookup") if plan.tool else None
    answer = make_answer(plan.words, facts.prefill, facts.max_tokens, facts.prompt_tokens, tool)
    ident = f"fault{zlib.crc32(str(entry.model).encode()):08x}{entry.index:04d}"
    return Turn(str(entry.model), ident, answer, facts.include_usage)


def _wire_of(method: str, path: str) -> str | None:
    if method != "POST":
        return None
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/messages"):
        return "anthropic"
    return None


def _openai_error(message: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})


def _json(entry: FaultRequest, status: int, body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    entry.status = status
    entry.finished_at = time.monotonic()
    return web.Response(status=status, body=body, content_type=JSON, headers=headers)


def _drop(request: web.Request, *, reset: bool) -> None:
    """Close the connection without completing the response; ``reset`` sends a TCP RST."""
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
