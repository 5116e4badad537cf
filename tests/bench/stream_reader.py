"""A lean SSE reader for ``bench_streams``: thousands of concurrent streams in one process.

One asyncio protocol per stream, no framework: it writes one HTTP/1.1 request, decodes
the chunked response in ``data_received`` and records, for every OpenAI content frame of
the numbered answer (``"content":" w17"``), the word's number and when the read that
carried it arrived (``time.monotonic()``). ``[DONE]`` and the end of the body are noted,
and so is an in-band error. ``Tracker`` counts streams open right now (response head
received, body not over) so a sampler can tell when all of them are.

``sse_client.py`` measures gaps between any frames matching a marker over aiohttp; this
one needs the sequence numbers (lost, duplicated and reordered frames) and must read
1,000 streams of a frame every 5 ms with little enough CPU to leave the gateway its core.
"""

from __future__ import annotations

import asyncio
import re
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

_WORD = re.compile(rb'"content":"\s?w(\d+)"')
_DONE = b"data: [DONE]"


@dataclass(slots=True)
class Tracker:
    open: int = 0
    peak: int = 0
    all_open_at: float | None = None  # when ``open`` first reached ``target``
    target: int = 0

    def opened(self) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)
        if self.open >= self.target and self.all_open_at is None:
            self.all_open_at = time.monotonic()

    def closed(self) -> None:
        self.open -= 1


@dataclass(slots=True)
class SeqTrace:
    key: str
    status: int = 0
    seqs: array[int] = field(default_factory=lambda: array("i"))
    times: array[float] = field(default_factory=lambda: array("d"))
    done: bool = False  # data: [DONE] arrived
    complete: bool = False  # the body ended as HTTP says it should
    error: str | None = None


class _Reader(asyncio.Protocol):
    def __init__(self, request: bytes, trace: SeqTrace, tracker: Tracker, finished: asyncio.Future[None]) -> None:
        self.request, self.trace, self.tracker, self.finished = request, trace, tracker, finished
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.sse = b""
        self.head = True
        self.chunked = True
        self.length = 0
        self.need = -1  # bytes of chunk data (plus CRLF) still expected; -1: a size line is next
        self.is_open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports do not subclass it
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.trace.complete and self.trace.error is None:
            self.trace.error = f"connection closed before the end of the body ({exc or 'EOF'})"
        self.finish()

    def finish(self) -> None:
        if self.is_open:
            self.is_open = False
            self.tracker.closed()
        if not self.finished.done():
            self.finished.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buf + data if self.buf else data
        if self.head:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            self._parse_head(buf[:end].decode("latin-1"))
            buf = buf[end + 4 :]
        if not self.chunked:
            self.buf = buf
            if len(buf) >= self.length:
                self.trace.error = self.trace.error or buf[: self.length].decode(errors="replace")[:300]
                self.trace.complete = True
                self.finish()
            return
        payload = []
        pos = 0
        while True:
            if self.need < 0:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                size = int(buf[pos:eol].split(b";", 1)[0], 16)
                pos = eol + 2
                if size == 0:
                    self.trace.complete = True
                    break
                self.need = size + 2
            if len(buf) - pos < self.need:
                break
            payload.append(buf[pos : pos + self.need - 2])
            pos += self.need
            self.need = -1
        self.buf = buf[pos:]
        if payload:
            self._frames(b"".join(payload), now)
        if self.trace.complete:
            self.finish()

    def _parse_head(self, head: str) -> None:
        lines = head.split("\r\n")
        self.trace.status = int(lines[0].split(" ", 2)[1])
        self.head = False
        self.chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "transfer-encoding" and "chunked" in value.lower():
                self.chunked = True
            elif name == "content-length":
                self.length = int(value.strip())
        if self.chunked and self.trace.status == 200:
            self.is_open = True
            self.tracker.opened()

    def _frames(self, payload: bytes, now: float) -> None:
        sse = self.sse + payload if self.sse else payload
        trace = self.trace
        start = 0
        while True:
            end = sse.find(b"\n\n", start)
            if end < 0:
                break
            frame = sse[start:end]
            start = end + 2
            match = _WORD.search(frame)
            if match is not None:
                trace.seqs.append(int(match[1]))
                trace.times.append(now)
            elif frame == _DONE:
                trace.done = True
            elif b'"error"' in frame and trace.error is None:
                trace.error = frame.decode(errors="replace")[:300]
        self.sse = sse[start:]


async def read_streams(
    host: str,
    port: int,
    path: str,
    requests: Sequence[tuple[str, bytes]],
    headers: Mapping[str, str],
    tracker: Tracker,
    ramp_s: float = 0.0,
    timeout: float = 120.0,
) -> list[SeqTrace]:
    """One stream per ``(key, JSON body)``, opened evenly over ``ramp_s`` seconds (0: all at
    once); each trace when its stream ended (a stream still open after ``timeout`` seconds
    is closed and says so)."""
    loop = asyncio.get_running_loop()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    tracker.target = len(requests)
    start = loop.time()
    deadline = start + timeout
    step = ramp_s / max(1, len(requests))

    async def one(index: int, key: str, body: bytes) -> SeqTrace:
        await asyncio.sleep(max(0.0, start + index * step - loop.time()))
        trace = SeqTrace(key)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        finished: asyncio.Future[None] = loop.create_future()
        reader = _Reader(head.encode() + body, trace, tracker, finished)
        try:
            await loop.create_connection(lambda: reader, host, port)
            await asyncio.wait_for(finished, max(0.0, deadline - loop.time()))
        except TimeoutError:
            trace.error = f"still open after {timeout:g} s"
            reader.finish()
        except OSError as exc:
            trace.error = f"{type(exc).__name__}: {exc}"
        return trace

    return await asyncio.gather(*(one(i, key, body) for i, (key, body) in enumerate(requests)))
