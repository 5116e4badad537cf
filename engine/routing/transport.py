"""Upstream transports: the only code that touches the network on the data plane.

``Transports`` is the seam the executor calls (a protocol: tests script it in-process);
``HttpTransports`` is the real one, over one pooled aiohttp session per worker.
``fetch(request, timeouts)`` returns a whole non-streamed answer (headers
within the first-byte deadline, the body within the total one, with no silence longer
than the idle timeout once it started). ``send``
returns once response headers arrived (the connect and first-byte deadlines apply up to
then); the body is read through ``UpstreamResponse.chunks()`` under the idle and total
deadlines. Every low-level failure is mapped here, at one boundary, to ``UpstreamError``
("connect", "timeout", "stream_cut"), so nothing above knows aiohttp exists.

``demo://`` base URLs are served in-process by the demo provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Protocol

import aiohttp

from engine.errors import UpstreamError
from engine.policy.compiled import Timeouts
from providers.base import UpstreamRequest
from providers.demo.upstream import respond as demo_respond


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncGenerator[bytes, None]: ...

    async def read(self) -> bytes: ...

    def close(self) -> None: ...


class Transports(Protocol):
    """How the executor reaches upstreams; every failure is an ``UpstreamError``."""

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        """Response headers under the first-byte deadline; the body is read by the caller."""
        ...

    async def fetch(self, request: UpstreamRequest, timeouts: Timeouts) -> tuple[int, Mapping[str, str], bytes, float]:
        """A whole non-streamed answer: status, headers, body and the seconds until its headers."""
        ...


class _Deadline:
    __slots__ = ("at", "loop")

    def __init__(self, seconds: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.at = self.loop.time() + seconds

    def left(self) -> float:
        return self.at - self.loop.time()


class _HttpResponse:
    def __init__(
        self, response: aiohttp.ClientResponse, timeouts: Timeouts, deadline: _Deadline, drain: _Drain
    ) -> None:
        self._response = response
        self._timeouts = timeouts
        self._deadline = deadline
        self._drain = drain
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body as it comes, under the idle and total deadlines. One watchdog timer per
        stream checks them (rescheduled at most every ``idle`` seconds), instead of a timer
        armed and cancelled around every read: a stream of thousands of frames pays a clock
        read per frame, not a timer."""
        content = self._response.content
        watch = _Watchdog(self._timeouts.idle, self._deadline)
        self._drain.watch(watch)
        first = True
        try:
            while True:
                if self._deadline.left() <= 0:
                    raise UpstreamError("timeout", "upstream exceeded the total timeout", deadline="total")
                watch.reading()
                try:
                    if first:
                        # One HTTP chunk, not the whole burst that came with it: the
                        # first frame goes out before the rest of the burst is read.
                        chunk = await _first_chunk(content)
                        first = False
                    else:
                        chunk = await content.readany()
                except asyncio.CancelledError:
                    if not watch.fired:
                        raise
                    raise watch.timeout() from None
                watch.done()
                if not chunk:
                    return
                yield chunk
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                "stream_cut", f"upstream connection failed mid-response: {type(exc).__name__}"
            ) from None
        finally:
            watch.stop()
            self._drain.unwatch(watch)
            self.close()

    async def read(self) -> bytes:
        """The whole body under the total deadline (one timer, not one per chunk)."""
        try:
            async with asyncio.timeout(max(0.0, self._deadline.left())):
                return await self._response.read()
        except TimeoutError:
            raise UpstreamError("timeout", "upstream exceeded the total timeout", deadline="total") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                "stream_cut", f"upstream connection failed mid-response: {type(exc).__name__}"
            ) from None
        finally:
            self.close()

    def close(self) -> None:
        self._response.close()


class _Watchdog:
    """The idle and total deadlines of one streamed body: while a read waits, a timer that
    fires past ``idle`` seconds of silence (or the total deadline) cancels the reading task;
    ``timeout`` is then the error that cancellation stands for (any other is passed on)."""

    __slots__ = ("_idle", "_deadline", "_loop", "_since", "_task", "_handle", "_fired", "_drain_at")

    def __init__(self, idle: float, deadline: _Deadline) -> None:
        self._idle = idle
        self._deadline = deadline
        self._loop = deadline.loop
        self._since = 0.0  # when the current read began waiting; 0 while not reading
        self._task: asyncio.Task[object] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._fired: str | None = None
        self._drain_at = float("inf")  # set when the gateway shuts down: the body must end by then

    def reading(self) -> None:
        self._since = self._loop.time()
        self._task = asyncio.current_task()  # the generator may be driven by another task later
        if self._handle is None:
            self._handle = self._loop.call_at(self._next_check(self._since), self._check)

    def _next_check(self, since: float) -> float:
        return min(since + self._idle, self._deadline.at, self._drain_at)

    def drain(self, at: float) -> None:
        """The gateway is shutting down: end this body at ``at`` (loop time) at the latest."""
        self._drain_at = at
        if self._handle is not None:
            self._handle.cancel()
            self._handle = self._loop.call_at(self._next_check(self._since or self._loop.time()), self._check)

    def done(self) -> None:
        self._since = 0.0

    def _check(self) -> None:
        now = self._loop.time()
        since = self._since
        if since and self._task is not None:
            if now >= self._drain_at:
                self._fired = "drain"
            elif now >= self._deadline.at:
                self._fired = "total"
            elif now - since >= self._idle:
                self._fired = "idle"
            if self._fired is not None:
                self._handle = None
                self._task.cancel()
                return
        self._handle = self._loop.call_at(self._next_check(since or now), self._check)

    @property
    def fired(self) -> bool:
        return self._fired is not None

    def timeout(self) -> UpstreamError:
        """The deadline that fired (the cancellation it caused is taken back)."""
        if self._task is not None:
            self._task.uncancel()
        if self._fired == "drain":
            return shutdown_error()
        if self._fired == "total":
            return UpstreamError("timeout", "upstream exceeded the total timeout", deadline="total")
        return UpstreamError("timeout", f"upstream went silent for {self._idle:.1f}s mid-response", deadline="idle")

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def shutdown_error() -> UpstreamError:
    return UpstreamError(
        "shutdown", "the gateway is shutting down and this answer could not finish in time: retry the request"
    )


class _Drain:
    """A worker's shutdown drain: the bodies being read (streams' watchdogs, whole-body
    timers) and, once ``begin`` was called, the loop time by which every one must end."""

    __slots__ = ("at", "_watchdogs", "_timers")

    def __init__(self) -> None:
        self.at: float | None = None
        self._watchdogs: set[_Watchdog] = set()
        self._timers: set[asyncio.Timeout] = set()

    def begin(self, seconds: float) -> None:
        at = asyncio.get_running_loop().time() + seconds
        self.at = at if self.at is None else min(self.at, at)
        for watchdog in list(self._watchdogs):
            watchdog.drain(self.at)
        for timer in list(self._timers):
            self._bound(timer)

    def watch(self, watchdog: _Watchdog) -> None:
        self._watchdogs.add(watchdog)
        if self.at is not None:
            watchdog.drain(self.at)

    def unwatch(self, watchdog: _Watchdog) -> None:
        self._watchdogs.discard(watchdog)

    def time(self, timer: asyncio.Timeout) -> None:
        self._timers.add(timer)
        self._bound(timer)

    def untime(self, timer: asyncio.Timeout) -> None:
        self._timers.discard(timer)

    def _bound(self, timer: asyncio.Timeout) -> None:
        when = timer.when()
        if self.at is not None and (when is None or when > self.at):
            timer.reschedule(self.at)

    def passed(self) -> bool:
        return self.at is not None and asyncio.get_running_loop().time() >= self.at


async def _first_chunk(content: aiohttp.StreamReader) -> bytes:
    """The first HTTP chunk of a body (whatever is buffered, if it is not chunked); b"" at its end."""
    while True:
        chunk, boundary = await content.readchunk()
        if chunk or not boundary:  # (b"", True) is an empty chunk boundary, not the end
            return chunk


async def _whole_body(content: aiohttp.StreamReader, idle: float) -> bytes:
    """A non-streamed body, whole. Its first bytes may take as long as the total deadline
    allows (a model still generating); once they came, silence longer than ``idle`` is a
    stalled upstream, as it is in a stream."""
    parts = [await content.readany()]
    if content.is_eof():  # the usual: the whole body came with that read (nothing can come after it)
        return parts[0]
    while parts[-1]:
        try:
            async with asyncio.timeout(idle):
                parts.append(await content.readany())
        except TimeoutError:
            raise UpstreamError(
                "timeout", f"upstream went silent for {idle:g}s mid-response", deadline="idle"
            ) from None
    return b"".join(parts)


class _DemoResponse:
    def __init__(self, status: int, headers: Mapping[str, str], body: AsyncIterator[bytes], timeouts: Timeouts) -> None:
        self.status = status
        self.headers = headers
        self._body = body
        self._timeouts = timeouts

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        try:
            while True:
                try:
                    async with asyncio.timeout(self._timeouts.idle):
                        chunk = await anext(self._body)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise UpstreamError("timeout", "upstream went silent mid-response", deadline="idle") from None
                except ConnectionError:
                    raise UpstreamError("stream_cut", "upstream connection reset mid-response") from None
                yield chunk
        finally:
            self.close()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        closer = getattr(self._body, "aclose", None)
        if closer is not None:
            task = asyncio.ensure_future(closer())
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)


READ_BUFSIZE = 16 * 1024


class HttpTransports:
    """Owns the pooled aiohttp session of this worker (created in the app lifespan)."""

    def __init__(self, *, pool_size: int = 1000, pool_per_host: int = 0) -> None:
        connector = aiohttp.TCPConnector(
            limit=pool_size,
            limit_per_host=pool_per_host,
            ttl_dns_cache=300,
            keepalive_timeout=30,
            enable_cleanup_closed=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # one session serves every client: an upstream's cookies must never be replayed
            # on another client's request (nor cost a jar lookup per call)
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(total=None),
            # how much of a body aiohttp buffers before it stops reading the socket: when the
            # client side falls behind, the rest waits in the kernel, not in this process
            # (aiohttp's 64 KiB default let a stream hold up to 128 KiB here)
            read_bufsize=READ_BUFSIZE,
        )
        self._client_timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._drain = _Drain()

    async def close(self) -> None:
        await self._session.close()

    def drain(self, seconds: float) -> None:
        """The worker is shutting down: every upstream body still being read (and any read
        from now on) ends within ``seconds``; one that has not is cut with a ``shutdown``
        failure, which the client gets as a clean error in its own format."""
        self._drain.begin(seconds)

    def _client_timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        # Only the socket connect is bounded here: a pooled connection needs no timer. The
        # first-byte, idle and total deadlines are ours (asyncio timers in fetch, send and
        # chunks; fetch needs just one, rescheduled from first byte to total).
        client_timeout = self._client_timeouts.get(timeouts.connect)
        if client_timeout is None:
            client_timeout = self._client_timeouts[timeouts.connect] = aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=timeouts.connect, sock_read=None
            )
        return client_timeout

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        """Response headers under the first-byte deadline; the body is read by the caller."""
        deadline = _Deadline(timeouts.total)
        if request.url.startswith("demo://"):
            return await self._demo(request, timeouts)
        first_byte = min(timeouts.first_byte, timeouts.total)
        try:
            async with asyncio.timeout(first_byte):
                response = await self._request(request, timeouts)
        except TimeoutError:
            raise UpstreamError(
                "timeout", f"no response headers within {first_byte:g}s", deadline="first_byte"
            ) from None
        return _HttpResponse(response, timeouts, deadline, self._drain)

    async def fetch(self, request: UpstreamRequest, timeouts: Timeouts) -> tuple[int, Mapping[str, str], bytes, float]:
        """A whole non-streamed answer: status, headers, body and the seconds until its
        headers arrived. Headers are due within the first-byte deadline, the body within
        the total one (one timer for both); a body that stops mid-way for the idle
        timeout has stalled."""
        if request.url.startswith("demo://"):
            demo = await self.send(request, timeouts)
            return demo.status, demo.headers, await demo.read(), 0.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_byte = min(timeouts.first_byte, timeouts.total)
        phase = "headers"
        try:
            async with asyncio.timeout(first_byte) as timer:
                self._drain.time(timer)
                response = await self._request(request, timeouts)
                headers_after = loop.time() - started
                phase = "body"
                timer.reschedule(started + timeouts.total)
                self._drain.time(timer)
                try:
                    body = await _whole_body(response.content, timeouts.idle)
                except aiohttp.ClientError as exc:
                    raise UpstreamError(
                        "stream_cut", f"upstream connection failed mid-response: {type(exc).__name__}"
                    ) from None
                finally:
                    response.close()
        except TimeoutError:
            if self._drain.passed():
                raise shutdown_error() from None
            if phase == "headers":
                raise UpstreamError(
                    "timeout", f"no response headers within {first_byte:g}s", deadline="first_byte"
                ) from None
            raise UpstreamError("timeout", "upstream exceeded the total timeout", deadline="total") from None
        finally:
            self._drain.untime(timer)
        return response.status, response.headers, body, headers_after

    async def _request(self, request: UpstreamRequest, timeouts: Timeouts) -> aiohttp.ClientResponse:
        try:
            return await self._session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=self._client_timeout(timeouts),
                allow_redirects=False,
            )
        except aiohttp.ServerTimeoutError:
            raise UpstreamError(
                "timeout", f"connect timed out after {timeouts.connect:g}s", deadline="connect"
            ) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise UpstreamError("connect", f"could not reach the upstream: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError("connect", f"upstream request failed: {type(exc).__name__}") from None

    async def _demo(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        try:
            async with asyncio.timeout(min(timeouts.first_byte, timeouts.total)):
                reply = await demo_respond(request)
        except TimeoutError:
            raise UpstreamError(
                "timeout", f"no response within {timeouts.first_byte:g}s", deadline="first_byte"
            ) from None
        except ConnectionError:
            raise UpstreamError("connect", "demo upstream reset the connection") from None
        return _DemoResponse(reply.status, reply.headers, reply.body, timeouts)
