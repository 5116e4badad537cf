"""One upstream call, up to the moment the executor can decide about it.

* ``open_stream`` - a stream up to its first token: headers, then frames fed one by one
  until the relay sees the first text, reasoning or tool-call delta. Everything produced
  before it (role-only deltas, ``message_start``...) is held, not sent: a silent upstream
  (no token within ``first_token`` seconds, headers included) fails over before the client
  saw a byte.
* ``hold`` - keep reading a stream that already has its first token, holding its output,
  for a buffer window (or to its end): a failure inside it is invisible to the client.
* ``feed_frames`` - after the commit, a chunk fed frame by frame when it carries several,
  so frames that arrived before an upstream's in-band error still reach the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from engine.errors import UpstreamError
from engine.exchange import Exchange, Relay
from engine.policy.compiled import Timeouts
from engine.routing.plan import Attempt
from engine.routing.transport import Transports, UpstreamResponse


@dataclass(slots=True)
class Try:
    """One upstream call in progress: what it calls, its number and its clock."""

    attempt: Attempt
    exchange: Exchange
    timeouts: Timeouts
    number: int  # 1-based across the whole request
    started: float  # perf_counter when it began
    ttfb_ms: float | None = None
    done: bool = False  # its record is written

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@dataclass(slots=True)
class Live:
    """A streamed attempt that has its first token (or ended), not yet relayed in full."""

    t: Try
    response: UpstreamResponse
    chunks: AsyncGenerator[bytes, None]
    relay: Relay
    held: list[bytes]  # client bytes produced and not sent yet
    pending: bytes = b""  # upstream bytes read and not fed yet (the rest of a burst)
    ended: bool = False  # the upstream stream is over and the relay closed

    def take_held(self) -> bytes:
        out = b"".join(self.held)
        self.held.clear()
        return out

    async def close(self) -> None:
        self.response.close()
        await self.chunks.aclose()


async def open_stream(transports: Transports, t: Try, relay: Relay) -> Live:
    timeouts = t.timeouts
    response: UpstreamResponse | None = None
    try:
        async with asyncio.timeout(max(0.0, timeouts.first_token - t.elapsed())):
            response = await transports.send(t.exchange.request, timeouts)
            if response.status >= 400:
                body = await response.read()
                raise t.exchange.classify(response.status, response.headers, body)
            live = Live(t, response, response.chunks(), relay, [])
            await _to_first_token(live)
    except TimeoutError:
        if response is not None:
            response.close()
        raise UpstreamError(
            "timeout", f"no first token within {timeouts.first_token:g}s", deadline="first_token"
        ) from None
    except BaseException:
        if response is not None:
            response.close()
        raise
    if live.ended and not any(live.held):
        raise UpstreamError("stream_cut", "upstream stream ended before any content")
    return live


async def _to_first_token(live: Live) -> None:
    relay, t = live.relay, live.t
    try:
        async for chunk in live.chunks:
            if t.ttfb_ms is None:
                t.ttfb_ms = t.elapsed() * 1000
            while chunk:
                head, chunk = first_frame(chunk)
                out = relay.feed(head)
                if out:
                    live.held.append(out)
                if relay.started:
                    live.pending = chunk
                    return
        tail = relay.close()
        if tail:
            live.held.append(tail)
        live.ended = True
    except BaseException:
        await live.chunks.aclose()
        raise


async def hold(live: Live, seconds: float) -> None:
    """Read on, holding the output, until ``seconds`` have passed (checked as chunks come)
    or the stream ended. Raises the upstream's failure."""
    until = time.perf_counter() + seconds
    relay = live.relay
    if live.pending:
        live.held.append(relay.feed(live.pending))
        live.pending = b""
    if time.perf_counter() >= until:
        return
    async for chunk in live.chunks:
        out = relay.feed(chunk)
        if out:
            live.held.append(out)
        if time.perf_counter() >= until:
            return
    tail = relay.close()
    if tail:
        live.held.append(tail)
    live.ended = True


def feed_frames(relay: Relay, chunk: bytes) -> tuple[bytes, UpstreamError | None]:
    """The client bytes for ``chunk``, and the upstream failure it carried (after the frames
    before it, which the client still gets). A chunk is fed whole unless it holds several
    frames and may hold an error event (every format's error event has an ``"error"`` key or
    type, which JSON string content cannot contain unescaped): then frame by frame."""
    if b'"error"' not in chunk or chunk.count(b"\n\n") <= 1:
        try:
            return relay.feed(chunk), None
        except UpstreamError as err:
            return b"", err
    out: list[bytes] = []
    while chunk:
        head, chunk = first_frame(chunk)
        try:
            produced = relay.feed(head)
        except UpstreamError as err:
            return b"".join(out), err
        if produced:
            out.append(produced)
    return b"".join(out), None


def first_frame(chunk: bytes) -> tuple[bytes, bytes]:
    """``chunk`` split after its first SSE frame, so the first frame is relayed (and reaches
    the client) before the rest of a chunk that carried a whole burst is translated."""
    cut = chunk.find(b"\n\n") + 2
    if cut <= 1 or cut >= len(chunk):
        return chunk, b""
    return chunk[:cut], chunk[cut:]
