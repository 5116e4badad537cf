"""A streaming ASGI response that notices a client going away.

Granian silently drops writes to a client that has disconnected, so a plain streaming
response would keep reading (and paying for) the upstream stream. This one sends the body
while a watcher waits for ``http.disconnect``: a disconnect cancels the sending, the end
of the body stops the watcher, and the body generator is always closed, which closes the
upstream connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class StreamResponse(Response):
    def __init__(
        self,
        first: bytes,
        rest: AsyncGenerator[bytes, None],
        headers: Mapping[str, str],
        on_close: Callable[[bool], Awaitable[None]],
        media_type: str = "text/event-stream",
    ) -> None:
        # no super().__init__: it would render an empty body and announce content-length: 0
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(dict(headers))
        self._first = first
        self._rest = rest
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The body is sent from this task (the first bytes leave at once); a watcher task
        # cancels it if the client disconnects first.
        this = asyncio.current_task()
        assert this is not None
        disconnected = False

        async def watch() -> None:
            nonlocal disconnected
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected = True
                    this.cancel()
                    return

        watcher = asyncio.create_task(watch())
        try:
            await self._send_body(send)
        except asyncio.CancelledError:
            if not disconnected:
                raise
            this.uncancel()
        finally:
            watcher.cancel()
            await self._rest.aclose()
            await self._on_close(disconnected)

    async def _send_body(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self._first, "more_body": True})
        async for chunk in self._rest:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
