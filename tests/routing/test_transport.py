"""The upstream transport against a real local server: what it sends and what it keeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.policy.compiled import Timeouts
from engine.routing.transport import HttpTransports
from providers.base import UpstreamRequest
from tests.support.fake_upstream import FakeUpstream
from tests.support.replies import Json


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
