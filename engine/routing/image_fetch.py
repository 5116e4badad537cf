"""Fetch remote images for upstreams that only take inline bytes (Gemini), safely.

SSRF protection: only http(s); every address a host name resolves to must be a public
(global) address - no private, loopback, link-local, multicast or reserved ranges, also
after each redirect (at most three); the connection goes to the address that was checked
(the resolver itself filters, so a DNS rebind between check and connect cannot sneak in).
Limits: size (default 20 MiB), total time (default 10 s), and the response must be an
image. Every failure is a ``BadRequest`` naming the URL, never a silent drop.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from engine.canonical import ChatRequest, ImagePart, Message, ToolResult
from engine.errors import BadRequest

MAX_REDIRECTS = 3


def _public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


class PublicOnlyResolver(AbstractResolver):
    """Resolves like the default resolver, then refuses any non-public address."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        blocked = [r["host"] for r in results if not _public(r["host"])]
        if blocked:
            raise OSError(f"{host} resolves to a non-public address ({blocked[0]})")
        return results

    async def close(self) -> None:
        await self._inner.close()


def remote_image_urls(request: ChatRequest) -> list[str]:
    urls: list[str] = []
    for message in request.messages:
        for part in message.parts:
            items = part.content if isinstance(part, ToolResult) else [part]
            for item in items:
                if isinstance(item, ImagePart) and item.url.startswith(("http://", "https://")):
                    urls.append(item.url)
    return list(dict.fromkeys(urls))


def with_inline_images(request: ChatRequest, inline: dict[str, str]) -> ChatRequest:
    """A copy of the request with every fetched URL replaced by its data URL. Pure."""

    def swap(item: Any) -> Any:
        if isinstance(item, ImagePart) and item.url in inline:
            return ImagePart(inline[item.url], item.detail)
        if isinstance(item, ToolResult):
            return replace(item, content=[swap(c) for c in item.content])
        return item

    messages = [Message(m.role, [swap(p) for p in m.parts]) for m in request.messages]
    return replace(request, messages=messages)


class ImageFetcher:
    def __init__(
        self, *, max_bytes: int = 20 * 1024 * 1024, timeout: float = 10.0, allow_private: bool = False
    ) -> None:
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver: AbstractResolver = ThreadedResolver() if self._allow_private else PublicOnlyResolver()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver, limit=32, ttl_dns_cache=None),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def inline(self, request: ChatRequest) -> ChatRequest:
        urls = remote_image_urls(request)
        if not urls:
            return request
        fetched = await asyncio.gather(*(self.fetch(url) for url in urls))
        return with_inline_images(request, dict(zip(urls, fetched, strict=True)))

    async def fetch(self, url: str) -> str:
        """The image at ``url`` as a ``data:`` URL."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._fetch(url)
        except TimeoutError:
            raise BadRequest(f"image_url {url}: not fetched within {self._timeout:g}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise BadRequest(f"image_url {url}: could not be fetched ({exc})") from None

    async def _fetch(self, url: str) -> str:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise BadRequest(f"image_url {url}: only http(s) URLs can be fetched")
            literal = parts.hostname.strip("[]")
            if not self._allow_private and _is_ip(literal) and not _public(literal):
                raise BadRequest(f"image_url {url}: refusing to fetch a non-public address")
            if not self._allow_private and not _is_ip(literal):
                await _check_public_name(url, literal)  # a clear message; the resolver enforces it again
            async with self._client().get(current, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status != 200:
                    raise BadRequest(f"image_url {url}: the server answered {response.status}")
                mime = response.content_type or ""
                if not mime.startswith("image/"):
                    raise BadRequest(f"image_url {url}: not an image (content-type {mime or 'missing'})")
                declared = response.content_length
                if declared is not None and declared > self._max_bytes:
                    raise BadRequest(f"image_url {url}: larger than {self._max_bytes} bytes")
                data = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    data += chunk
                    if len(data) > self._max_bytes:
                        raise BadRequest(f"image_url {url}: larger than {self._max_bytes} bytes")
                return f"data:{mime};base64,{base64.b64encode(bytes(data)).decode()}"
        raise BadRequest(f"image_url {url}: more than {MAX_REDIRECTS} redirects")


async def _check_public_name(url: str, host: str) -> None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BadRequest(f"image_url {url}: cannot resolve {host} ({exc})") from None
    for info in infos:
        address = str(info[4][0])
        if not _public(address):
            raise BadRequest(f"image_url {url}: refusing to fetch: {host} resolves to a non-public address")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
