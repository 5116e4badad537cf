"""A lean streaming upstream for ``bench_streams``: thousands of concurrent OpenAI-format SSE
streams from one process, each sending a frame every few milliseconds (a server, not a test).

One asyncio protocol on uvloop speaks just enough HTTP/1.1 (keep-alive,
``Content-Length`` request bodies, chunked responses), and one 1 ms ticker sends every
frame that is due, so the cost per frame is one ``transport.write`` and no timer per
stream: aiohttp with a sleep per frame could not hold 1,000 streams at 5 ms here.

``POST .../chat/completions`` with ``"stream": true`` answers ``w1 w2 ... wN`` in the
shape of the recorded OpenAI streams (role chunk, one chunk per word, finish chunk, the
usage chunk when ``stream_options.include_usage``, ``[DONE]``). The model name uses the
fault upstream's grammar (``tests/support/fault_plan.py``), limited to ``wordsN``,
``delayDUR`` (the period between frames) and ``cutN`` (drop the connection after N
words): ``s+words600+delay5ms+cut300``. A request ending with an assistant message is a
prefill: the stream continues after its last ``wK``. The stream's key is the text of the
last user message; every word's send time is recorded under (key, word number).

``GET /healthz``; ``GET /stats`` (requests, streams, frames, cuts, streams the client
left, how late the ticker sent frames: p50/p99/max ms); ``GET /times`` (``{key: [[n, t],
...]}``, ``t`` in ``time.monotonic()`` seconds, comparable across processes on Linux);
``POST /reset`` forgets both::

    python -m tests.bench.stream_upstream --port 9200
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson
import uvloop

from tests.support.fault_plan import FaultSyntaxError, parse_model
from tests.support.fault_text import continuation_start

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
TICK_S = 0.001
PROMPT_TOKENS = 12


def _chunk(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


def _simple(status: str, body: bytes, keep_alive: bool = True) -> bytes:
    connection = b"keep-alive" if keep_alive else b"close"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        + b"Connection: "
        + connection
        + b"\r\n\r\n"
        + body
    )


@dataclass(frozen=True, slots=True)
class Shape:
    """Everything a stream of one (model, first word, usage) sends: its frames, chunk-encoded."""

    head: bytes  # response head + role chunk
    words: tuple[bytes, ...]  # one chunk per word
    tail: bytes  # finish (+ usage) + [DONE] + the last chunk
    first: int  # the number of the first word
    period_s: float
    cut_after: int | None  # drop after this many words of the whole answer


def build_shape(model: str, first: int, include_usage: bool) -> Shape:
    plan = parse_model(model)
    unsupported = [f.token for f in plan.faults if f.kind != "cut"]
    if unsupported:
        raise FaultSyntaxError(f"the bench upstream does not play {unsupported} (only words, delay, cut)")
    cut = next((f.frames for f in plan.faults if f.kind == "cut"), None)
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1767225600, "model": model}

    def frame(delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        payload = {**base, "choices": [choice], **({"usage": None} if include_usage else {})}
        return _chunk(b"data: " + orjson.dumps(payload) + b"\n\n")

    numbers = range(first, plan.words + 1)
    lead = "" if first == 1 else " "
    words = tuple(frame({"content": f"{lead if n == first else ' '}w{n}"}, None) for n in numbers)
    tail = frame({}, "stop")
    if include_usage:
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(words)}
        usage["total_tokens"] = PROMPT_TOKENS + len(words)
        tail += _chunk(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
    tail += _chunk(b"data: [DONE]\n\n") + LAST_CHUNK
    head = HEAD + frame({"role": "assistant", "content": ""}, None)
    return Shape(head, words, tail, first, plan.delay_s, cut)


@dataclass(slots=True)
class Stats:
    requests: int = 0
    streams: int = 0
    frames: int = 0
    cuts: int = 0
    left: int = 0  # streams whose client went away before the end
    lateness: array[float] = field(default_factory=lambda: array("d"))  # seconds each word was sent after it was due

    def as_json(self) -> bytes:
        late = sorted(self.lateness)

        def ms(p: float) -> float:
            return round(late[min(len(late) - 1, int(p * len(late)))] * 1000, 3) if late else 0.0

        return orjson.dumps(
            {
                "requests": self.requests,
                "streams": self.streams,
                "frames": self.frames,
                "cuts": self.cuts,
                "left": self.left,
                "late_ms": {"p50": ms(0.5), "p99": ms(0.99), "max": ms(1.0)},
            }
        )


class _Stream:
    __slots__ = ("conn", "shape", "key", "t0", "index")

    def __init__(self, conn: Connection, shape: Shape, key: str, t0: float) -> None:
        self.conn, self.shape, self.key, self.t0, self.index = conn, shape, key, t0, 0

    def due(self) -> float:
        """When the next frame (word ``index``, or the tail) is due."""
        return self.t0 + (self.index + 1) * self.shape.period_s


class Server:
    def __init__(self) -> None:
        self.stats = Stats()
        self.times: dict[str, tuple[array[int], array[float]]] = {}
        self._shapes: dict[tuple[str, int, bool], Shape] = {}
        self._buckets: dict[int, list[_Stream]] = defaultdict(list)
        self._next_ms = int(time.monotonic() * 1000)

    def shape(self, model: str, first: int, include_usage: bool) -> Shape:
        key = (model, first, include_usage)
        found = self._shapes.get(key)
        if found is None:
            found = self._shapes[key] = build_shape(model, first, include_usage)
        return found

    def start_stream(self, conn: Connection, shape: Shape, key: str) -> None:
        now = time.monotonic()
        conn.write(shape.head)
        self.stats.streams += 1
        self._schedule(_Stream(conn, shape, key, now))

    def _schedule(self, stream: _Stream) -> None:
        # never into a bucket already swept (or being swept): at worst 1 ms late
        self._buckets[max(int(stream.due() * 1000), self._next_ms + 1)].append(stream)

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now_ms = int(time.monotonic() * 1000)
            while self._next_ms <= now_ms:
                for stream in self._buckets.pop(self._next_ms, ()):
                    self._advance(stream)
                self._next_ms += 1

    def _advance(self, stream: _Stream) -> None:
        conn, shape = stream.conn, stream.shape
        if conn.closed:
            self.stats.left += 1
            return
        now = time.monotonic()
        while stream.due() <= now:
            number = shape.first + stream.index
            if shape.cut_after is not None and number > shape.cut_after:
                conn.close()
                self.stats.cuts += 1
                return
            if stream.index == len(shape.words):
                conn.write(shape.tail)
                conn.stream_done()
                return
            self.stats.lateness.append(now - stream.due())
            conn.write(shape.words[stream.index])
            numbers, times = self.times.get(stream.key) or self.times.setdefault(stream.key, (array("i"), array("d")))
            numbers.append(number)
            times.append(now)
            self.stats.frames += 1
            stream.index += 1
        self._schedule(stream)


class Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.streaming = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    def stream_done(self) -> None:
        self.streaming = False
        self._parse()  # a pipelined next request, if any

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.streaming:
            self._parse()

    def _parse(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        method, path, _ = head[0].split(" ", 2)
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        self._route(method, path, body)

    def _route(self, method: str, path: str, body: bytes) -> None:
        server = self.server
        if method == "GET" and path == "/stats":
            self.write(_simple("200 OK", server.stats.as_json()))
        elif method == "GET" and path == "/times":
            times = {key: [[n, t] for n, t in zip(*pair, strict=True)] for key, pair in server.times.items()}
            self.write(_simple("200 OK", orjson.dumps(times)))
        elif method == "POST" and path == "/reset":
            server.stats, server.times = Stats(), {}
            self.write(_simple("200 OK", b"{}"))
        elif method == "GET" and path == "/healthz":
            self.write(_simple("200 OK", b'"ok"'))
        elif method == "POST" and path.endswith("/chat/completions"):
            server.stats.requests += 1
            self._stream(body)
            return
        else:
            self.write(_simple("404 Not Found", b'{"error":{"message":"not found"}}'))
        self._parse()

    def _stream(self, body: bytes) -> None:
        try:
            request = orjson.loads(body)
            messages = request["messages"]
            last_user = next(_text(m["content"]) for m in reversed(messages) if m["role"] == "user")
            prefill = _text(messages[-1]["content"]) if messages[-1]["role"] == "assistant" else None
            options = request.get("stream_options") or {}
            shape = self.server.shape(
                request["model"], continuation_start(prefill), options.get("include_usage") is True
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, StopIteration, FaultSyntaxError) as exc:
            message = orjson.dumps({"error": {"message": f"bench upstream: {exc}", "type": "invalid_request_error"}})
            self.write(_simple("400 Bad Request", message))
            self._parse()
            return
        self.streaming = True
        self.server.start_stream(self, shape, last_user)


def _text(content: Any) -> str:
    """A message's text: a string, or its text parts joined."""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


async def serve(host: str, port: int) -> None:
    server = Server()
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Connection(server), host, port, backlog=4096)
    ticker = asyncio.create_task(server.tick())
    try:
        await listener.serve_forever()
    finally:
        ticker.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # Nothing here makes reference cycles; a cyclic collection over the recorded frames
    # would stall the ticker for tens of milliseconds.
    gc.disable()
    try:
        uvloop.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
