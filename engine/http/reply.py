"""A complete JSON response as a bare ASGI callable: status, headers, body, two messages.

The data plane answers with these instead of Starlette ``Response`` objects (which parse
and re-encode their headers on every request); Starlette routes may return them too,
since Starlette only calls a route's response with ``(scope, receive, send)``.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Receive, Scope, Send

_JSON = (b"content-type", b"application/json")


class Reply:
    __slots__ = ("status_code", "headers", "body")

    def __init__(self, body: bytes, status_code: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.body = body
        self.status_code = status_code
        self.headers: Mapping[str, str] = headers or {}

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        raw = [_JSON, (b"content-length", str(len(self.body)).encode())]
        raw += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers.items()]
        return raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers()})
        await send({"type": "http.response.body", "body": self.body})
