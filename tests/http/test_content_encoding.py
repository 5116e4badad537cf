"""Request bodies with ``Content-Encoding``: decoded piece by piece, under the body limit."""

from __future__ import annotations

import gzip
import os
import tracemalloc
import zlib

import pytest

from engine.errors import BadRequest, PayloadTooLarge
from engine.http.content_encoding import BodyDecoder, UnsupportedEncoding, body_decoder

BODY = b'{"model": "m", "messages": [{"role": "user", "content": "' + os.urandom(3000).hex().encode() + b'"}]}'


def decode(header: str, data: bytes, limit: int = 1 << 20, piece: int = 7) -> bytes:
    decoder = body_decoder(header, limit)
    assert isinstance(decoder, BodyDecoder)
    out = b"".join(decoder.feed(data[i : i + piece]) for i in range(0, len(data), piece))
    decoder.finish()
    return out


@pytest.mark.parametrize(
    ("header", "encode"),
    [
        ("gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),
        ("gzip, deflate", lambda data: zlib.compress(gzip.compress(data))),
        ("identity, gzip", gzip.compress),
        ("gzip", lambda data: gzip.compress(data[:100]) + gzip.compress(data[100:])),  # two members
    ],
    ids=["gzip", "upper-case", "x-gzip", "zlib-deflate", "raw-deflate", "chained", "with-identity", "two-members"],
)
def test_decodes_in_small_pieces(header: str, encode: object) -> None:
    assert callable(encode)
    assert decode(header, encode(BODY)) == BODY


@pytest.mark.parametrize("header", [None, "", "identity", " identity "])
def test_nothing_to_decode(header: str | None) -> None:
    assert body_decoder(header, 100) is None


@pytest.mark.parametrize("header", ["br", "zstd", "gzip, br", "compress"])
def test_other_encodings_are_415_naming_them(header: str) -> None:
    with pytest.raises(UnsupportedEncoding) as caught:
        body_decoder(header, 100)
    assert caught.value.status == 415 and caught.value.code == "unsupported_content_encoding"
    assert repr(header.split(",")[-1].strip()) in caught.value.message


def test_the_limit_counts_decoded_bytes() -> None:
    assert decode("gzip", gzip.compress(b"x" * 1000), limit=1000) == b"x" * 1000
    with pytest.raises(PayloadTooLarge) as caught:
        decode("gzip", gzip.compress(b"x" * 1001), limit=1000)
    assert "decompressed" in caught.value.message


def test_a_bomb_stops_at_the_limit_without_expanding() -> None:
    limit = 1 << 20
    bomb = zlib.compress(b"\0" * (256 << 20), 9)  # 256 MiB of zeros in about 250 KiB
    decoder = body_decoder("deflate", limit)
    assert decoder is not None
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            for i in range(0, len(bomb), 64 * 1024):
                decoder.feed(bomb[i : i + 64 * 1024])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * limit, f"peak {peak} bytes while decoding"


@pytest.mark.parametrize(
    ("header", "data", "says"),
    [
        ("gzip", gzip.compress(BODY)[:-20], "truncated"),
        ("gzip", b"plain text, not gzip", "not valid gzip"),
        ("deflate", b"\xff\xfe\xfd plain", "not valid deflate"),
        ("gzip", gzip.compress(BODY) + b"trailing", "not valid gzip"),
        ("deflate", zlib.compress(BODY) + b"trailing", "after the end"),
    ],
    ids=["truncated", "not-gzip", "not-deflate", "gzip-trailing", "deflate-trailing"],
)
def test_broken_streams_are_400(header: str, data: bytes, says: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode(header, data)
    assert caught.value.status == 400 and says in caught.value.message
