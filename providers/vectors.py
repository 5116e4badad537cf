"""Embedding vectors on the wire: floats, or base64 of little-endian float32 (OpenAI's
``encoding_format: "base64"``, which the official SDK asks for by default). Pure."""

from __future__ import annotations

import base64
import binascii
import struct

from engine.errors import UpstreamError
from engine.media.canonical import Vector


def pack(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def checked_base64(text: str) -> str:
    """``text`` when it is base64 of whole float32 values (an upstream failure otherwise)."""
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        raise UpstreamError("server", "an embedding is not valid base64") from None
    if len(raw) % 4:
        raise UpstreamError("server", "a base64 embedding is not a whole number of float32 values")
    return text


def as_base64(vector: Vector) -> str:
    return vector if isinstance(vector, str) else pack(vector)


def as_floats(vector: Vector) -> list[float]:
    return unpack(vector) if isinstance(vector, str) else vector


def unpack(text: str) -> list[float]:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise UpstreamError("server", "an embedding is not valid base64") from None
    if len(raw) % 4:
        raise UpstreamError("server", "a base64 embedding is not a whole number of float32 values")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def estimate_tokens(texts: list[str | list[int]]) -> int:
    """Input tokens when the upstream reports none: token arrays count as given, text at
    about four characters a token (the router's estimate)."""
    total = 0
    for item in texts:
        total += len(item) if isinstance(item, list) else max(1, (len(item) + 3) // 4)
    return total
