"""Remote images are inlined for upstreams that need bytes, without becoming an SSRF hole."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.canonical import ChatRequest, ImagePart, Message, TextPart, ToolResult
from engine.errors import BadRequest
from engine.routing.image_fetch import (
    ImageFetcher,
    remote_image_urls,
    with_inline_images,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def images() -> AsyncIterator[str]:
    async def png(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/cat.png")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"\x00" * 4096, content_type="image/png")

    app = web.Application()
    app.router.add_get("/cat.png", png)
    app.router.add_get("/moved", moved)
    app.router.add_get("/page", page)
    app.router.add_get("/huge.png", huge)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def test_loopback_and_private_addresses_are_refused(images: str) -> None:
    fetcher = ImageFetcher()
    try:
        for url in (
            f"{images}/cat.png",
            "http://10.0.0.8/x.png",
            "http://[::1]/x.png",
            "http://169.254.169.254/latest",
        ):
            with pytest.raises(BadRequest, match="non-public address"):
                await fetcher.fetch(url)
        port = images.rsplit(":", 1)[1]
        with pytest.raises(BadRequest, match="localhost resolves to a non-public address"):
            await fetcher.fetch(f"http://localhost:{port}/cat.png")
        with pytest.raises(BadRequest, match="only http"):
            await fetcher.fetch("file:///etc/passwd")
    finally:
        await fetcher.close()


async def test_an_image_becomes_a_data_url_following_redirects(images: str) -> None:
    fetcher = ImageFetcher(allow_private=True)  # the test server is local by necessity
    try:
        expected = "data:image/png;base64," + base64.b64encode(PNG).decode()
        assert await fetcher.fetch(f"{images}/cat.png") == expected
        assert await fetcher.fetch(f"{images}/moved") == expected
    finally:
        await fetcher.close()


async def test_non_images_and_oversized_bodies_are_clear_errors(images: str) -> None:
    fetcher = ImageFetcher(allow_private=True, max_bytes=1024)
    try:
        with pytest.raises(BadRequest, match="not an image"):
            await fetcher.fetch(f"{images}/page")
        with pytest.raises(BadRequest, match="larger than 1024 bytes"):
            await fetcher.fetch(f"{images}/huge.png")
        with pytest.raises(BadRequest, match="answered 404"):
            await fetcher.fetch(f"{images}/missing.png")
    finally:
        await fetcher.close()


def test_inlining_replaces_every_fetched_url_and_keeps_the_rest() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message(
                "user", [TextPart("look"), ImagePart("https://x/a.png", "high"), ImagePart("data:image/png;base64,AA")]
            ),
            Message("tool", [ToolResult("call_1", [ImagePart("https://x/a.png"), TextPart("ok")])]),
        ],
    )
    assert remote_image_urls(request) == ["https://x/a.png"]
    inlined = with_inline_images(request, {"https://x/a.png": "data:image/png;base64,BB"})
    assert inlined.messages[0].parts[1] == ImagePart("data:image/png;base64,BB", "high")
    assert inlined.messages[0].parts[2] == ImagePart("data:image/png;base64,AA")
    result = inlined.messages[1].parts[0]
    assert isinstance(result, ToolResult) and result.content[0] == ImagePart("data:image/png;base64,BB")
    assert request.messages[0].parts[1] == ImagePart("https://x/a.png", "high")  # the original is untouched
