"""The upstream transport against a real local server: what it sends and what it keeps."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from engine.errors import UpstreamError
from engine.policy.compiled import Timeouts
from engine.routing.transport import HttpTransports
from providers.base import UpstreamRequest
from tests.support.fake_upstream import FakeUpstream
from tests.support.replies import Cut, Json, Stream


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


def _request(fake: FakeUpstream) -> UpstreamRequest:
    body = b'{"model": "m", "messages": []}'
    # by name, not by IP: a cookie jar keeps no cookies for IP-address hosts
    url = fake.base_url.replace("127.0.0.1", "localhost") + "/chat/completions"
    return UpstreamRequest("POST", url, {"content-type": "application/json"}, body)


async def test_an_upstreams_cookie_is_never_sent_back(upstream: FakeUpstream) -> None:
    """One session serves every client, so a cookie one answer set (a CDN's, say) must not
    ride along on the next client's request."""
    upstream.script(
        None, Json(body={"ok": 1}, headers={"Set-Cookie": "__cf_bm=tenant-a; Path=/"}), Json(body={"ok": 2})
    )
    transports = HttpTransports()
    try:
        first = await transports.fetch(_request(upstream), Timeouts())
        second = await transports.fetch(_request(upstream), Timeouts())
    finally:
        await transports.close()
    assert first[0] == second[0] == 200
    assert "__cf_bm" in first[1].get("set-cookie", "")
    assert [r.headers.get("cookie") for r in upstream.requests] == [None, None]


async def test_fetch_returns_status_headers_body_and_time_to_headers(upstream: FakeUpstream) -> None:
    upstream.script(None, Json(status=201, body={"id": "x"}, headers={"x-upstream": "yes"}))
    transports = HttpTransports()
    try:
        status, headers, body, after = await transports.fetch(_request(upstream), Timeouts())
    finally:
        await transports.close()
    assert (status, headers["x-upstream"], body) == (201, "yes", b'{"id":"x"}')
    assert 0 <= after < 5


async def _read_all(transports: HttpTransports, request: UpstreamRequest, timeouts: Timeouts) -> list[bytes]:
    response = await transports.send(request, timeouts)
    return [chunk async for chunk in response.chunks()]


async def test_a_stream_silent_past_idle_is_an_idle_timeout_and_a_slow_but_steady_one_is_not(
    upstream: FakeUpstream,
) -> None:
    frames = [b'data: {"n": 1}\n\n', b'data: {"n": 2}\n\n', b'data: {"n": 3}\n\n']
    upstream.script(None, Stream(frames, delay_s=0.05), Cut(frames[:1], delay_s=1.0))
    transports = HttpTransports()
    timeouts = Timeouts(idle=0.2)
    try:
        steady = await _read_all(transports, _request(upstream), timeouts)  # a frame every 50 ms: never idle
        with pytest.raises(UpstreamError) as caught:
            await _read_all(transports, _request(upstream), timeouts)  # one frame, then 1 s of silence
    finally:
        await transports.close()
    assert b"".join(steady) == b"".join(frames)
    assert (caught.value.failure, caught.value.deadline) == ("timeout", "idle")
    assert upstream.requests[1].done.wait(5) and upstream.requests[1].disconnected  # the upstream was let go


async def test_the_total_deadline_ends_a_stream_that_keeps_trickling(upstream: FakeUpstream) -> None:
    frames = [b'data: {"n": %d}\n\n' % i for i in range(40)]
    upstream.script(None, Stream(frames, delay_s=0.05))  # 2 s in all, never idle for long
    transports = HttpTransports()
    try:
        with pytest.raises(UpstreamError) as caught:
            await _read_all(transports, _request(upstream), Timeouts(idle=0.5, total=0.4))
    finally:
        await transports.close()
    assert (caught.value.failure, caught.value.deadline) == ("timeout", "total")


async def test_a_reader_cancelled_by_its_caller_is_cancelled_not_timed_out(upstream: FakeUpstream) -> None:
    upstream.script(None, Cut([b'data: {"n": 1}\n\n'], delay_s=2.0))
    transports = HttpTransports()
    try:
        reader = asyncio.create_task(_read_all(transports, _request(upstream), Timeouts(idle=5)))
        await asyncio.sleep(0.3)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
    finally:
        await transports.close()
