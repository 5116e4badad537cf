"""The demo channel's media: the PNG is valid (every chunk's CRC, the pixel data inflates to
the declared size), and the embedding model loads from the installed package with the
network unreachable and no Hugging Face cache."""

from __future__ import annotations

import socket
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from providers.demo import embedder
from providers.demo.png import png, png_size


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        out.append((kind, body))
        at += 12 + length
    return out


@pytest.mark.parametrize(("width", "height"), [(1, 1), (64, 64), (37, 5)])
def test_png_is_valid(width: int, height: int) -> None:
    data = png(width, height, b"seed")
    chunks = _chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (width, height, 8, 2, 0, 0, 0)
    pixels = zlib.decompress(chunks[1][1])
    assert len(pixels) == height * (1 + 3 * width)
    assert all(pixels[row * (1 + 3 * width)] == 0 for row in range(height))  # filter: none
    assert png_size(data) == (width, height)
    assert png(width, height, b"seed") == data  # deterministic
    assert png(width, height, b"other") != data or width * height == 1


def test_png_size_of_something_else() -> None:
    assert png_size(b"GIF89a....") is None


def test_the_embedding_model_loads_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing may be downloaded at run time: with every socket refused, an empty home and
    Hugging Face offline, the model still loads (from the installed package) and embeds."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"the embedding model touched the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    embedder.load_embedder.cache_clear()
    try:
        model = embedder.load_embedder()
        vectors, tokens = model.embed(["the cat sat", "a kitten sat", "interest rates rose"], None)
    finally:
        embedder.load_embedder.cache_clear()
    assert tokens > 0 and all(len(v) == embedder.DIMENSIONS for v in vectors)
    assert all(abs(sum(x * x for x in v) - 1) < 1e-5 for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert list((tmp_path).iterdir()) == []  # no cache written


def test_dimensions_truncate_and_token_arrays_embed() -> None:
    model = embedder.load_embedder()
    ids = model.tokenizer.encode("hello world", add_special_tokens=False).ids
    (from_text, from_ids), tokens = model.embed(["hello world", ids], 64)
    assert len(from_text) == 64 and from_text == pytest.approx(from_ids)
    assert tokens == 2 * len(ids)
    with pytest.raises(ValueError, match="token ids must be below"):
        model.embed([[10**9]], None)
