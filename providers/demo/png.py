"""A small valid PNG in pure Python (``zlib`` and ``struct``): what the demo channel's image
model draws. Deterministic: the same seed gives the same bytes (a two-colour diagonal
gradient, the colours taken from the seed)."""

from __future__ import annotations

import hashlib
import struct
import zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, seed: bytes) -> bytes:
    """An 8-bit RGB PNG of ``width`` x ``height`` pixels."""
    digest = hashlib.sha256(seed).digest()
    start, end = digest[0:3], digest[3:6]
    rows = []
    span = max(width + height - 2, 1)
    for y in range(height):
        row = bytearray(b"\x00")  # filter type: none
        for x in range(width):
            t = (x + y) / span
            row += bytes(round(a + (b - a) * t) for a, b in zip(start, end, strict=True))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int] | None:
    """A PNG's width and height, from its header (None when ``data`` is not a PNG)."""
    if not data.startswith(_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
