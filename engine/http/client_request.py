"""What a client request carries before the pipeline sees it: its API key, as its wire
format sends it, and its body, refused with 413 as soon as it is known to be too large.
A body sent with ``Content-Encoding: gzip`` or ``deflate`` is decoded as it arrives, and
the limit holds for the decoded size (``engine.http.content_encoding``); any other
encoding is a 415.

Shared by the raw data plane and the Starlette routes, so both read requests alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs

from starlette.types import Receive

from engine.errors import PayloadTooLarge
from engine.http.content_encoding import body_decoder

# The client API's hot POST endpoints (under /v1 or not) and the format each speaks.
DATA_PLANE_FORMATS = {"/chat/completions": "openai", "/responses": "openai-responses", "/messages": "anthropic"}


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def _bearer(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def credential_for(fmt: str, headers: Mapping[str, str], query_string: bytes) -> str | None:
    """The client's key as its format sends it (``headers`` by lower-case name): OpenAI
    ``Authorization: Bearer``; Anthropic ``x-api-key`` or Bearer; Gemini
    ``x-goog-api-key``, ``?key=`` or Bearer."""
    if fmt == "anthropic":
        return headers.get("x-api-key") or _bearer(headers)
    if fmt == "gemini":
        from_query = parse_qs(query_string.decode("latin-1")).get("key") if query_string else None
        return headers.get("x-goog-api-key") or (from_query[0] if from_query else None) or _bearer(headers)
    return _bearer(headers) or headers.get("x-api-key")


async def read_body(receive: Receive, declared: str | None, limit: int, encoding: str | None = None) -> bytes:
    """The whole request body, decoded (``declared``: its content-length header, if any;
    ``encoding``: its content-encoding header). Both the bytes on the wire and the decoded
    body must be within ``limit``."""
    decoder = body_decoder(encoding, limit)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        if decoder is not None:
            chunk = decoder.feed(chunk)
        if not message.get("more_body", False):
            if decoder is not None:
                decoder.finish()
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)
