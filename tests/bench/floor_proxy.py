"""The floor: the least a Python proxy on Turnout's stack can cost (a server for the benchmarks).

A raw ASGI callable under Granian (1 worker) that forwards each POST body to
``FLOOR_UPSTREAM`` + path with the same pooled ``aiohttp`` client session Turnout uses and
returns the answer's bytes: no Starlette, no routing, no parsing, no policy. An event
stream is relayed as it comes, each upstream read one body message. The difference
between it and Turnout is what Turnout's own code and its framework layers cost; the
difference between it and the mock is what Granian + asyncio + aiohttp cost.

    FLOOR_UPSTREAM=http://127.0.0.1:9100 python -m tests.bench.floor_proxy --port 9200
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class FloorProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["method"] == "GET":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        assert self.session is not None
        headers = {"content-type": "application/json", "authorization": "Bearer sk-floor"}
        async with self.session.post(self.upstream + scope["path"], data=b"".join(parts), headers=headers) as response:
            if response.content_type == "text/event-stream":
                await self._relay(response, send)
                return
            body = await response.read()
            status = response.status
        out = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    async def _relay(self, response: aiohttp.ClientResponse, send: Send) -> None:
        head = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": response.status, "headers": head})
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
                await send({"type": "lifespan.startup.complete"})
            else:
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def floor_app() -> FloorProxy:
    """Granian factory."""
    return FloorProxy(os.environ["FLOOR_UPSTREAM"])


def main() -> None:
    parser = argparse.ArgumentParser(description="minimal ASGI + aiohttp forwarding proxy (the benchmark floor)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from granian import Granian
    from granian.constants import Interfaces

    from engine.cli import granian_tuning

    Granian(
        "tests.bench.floor_proxy:floor_app",
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=1,
        factory=True,
        log_enabled=False,
        **granian_tuning(),  # the same server settings as Turnout's
    ).serve()


if __name__ == "__main__":
    main()
