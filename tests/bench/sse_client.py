"""A measuring SSE client for the streaming benchmarks.

``trace_stream`` sends one streamed request and records, without interpreting the
vendor format, when the first body byte arrived and when each SSE frame (text up to a
blank line) was complete. ``trace_many`` runs ``count`` of them with at most
``concurrency`` in flight. A frame counts as *content* when it contains ``marker`` (e.g.
``b'"content":"w'`` for OpenAI chunks, ``b"text_delta"`` for Anthropic events).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

FRAME_END = b"\n\n"


@dataclass(slots=True)
class StreamTrace:
    status: int = 0
    ttfb_s: float | None = None  # request sent -> first body byte
    frames: int = 0
    content_times: list[float] = field(default_factory=list)  # arrival of each content frame
    last_frame: bytes = b""
    error: str | None = None

    def gaps(self) -> list[float]:
        """Seconds between consecutive content frames."""
        times = self.content_times
        return [b - a for a, b in zip(times, times[1:], strict=False)]


async def trace_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str], marker: bytes
) -> StreamTrace:
    trace = StreamTrace()
    clock = time.perf_counter
    started = clock()
    buffer = b""
    try:
        async with session.post(url, data=body, headers=dict(headers)) as response:
            trace.status = response.status
            while True:
                chunk = await response.content.readany()
                if not chunk:
                    break
                now = clock()
                if trace.ttfb_s is None:
                    trace.ttfb_s = now - started
                buffer += chunk
                while True:
                    end = buffer.find(FRAME_END)
                    if end < 0:
                        break
                    frame, buffer = buffer[:end], buffer[end + 2 :]
                    trace.frames += 1
                    trace.last_frame = frame
                    if marker in frame:
                        trace.content_times.append(now)
    except (aiohttp.ClientError, TimeoutError) as exc:
        trace.error = f"{type(exc).__name__}: {exc}"
    if buffer.strip():
        trace.error = trace.error or f"stream ended inside a frame ({len(buffer)} bytes left)"
    return trace


async def trace_many(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    marker: bytes,
    *,
    count: int,
    concurrency: int,
) -> list[StreamTrace]:
    """``count`` streams, ``concurrency`` at a time (one connection each)."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> StreamTrace:
            async with gate:
                return await trace_stream(session, url, body, headers, marker)

        return await asyncio.gather(*(one() for _ in range(count)))
