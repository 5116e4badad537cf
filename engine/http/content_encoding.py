"""Request bodies sent with ``Content-Encoding``: ``gzip`` (``x-gzip``) and ``deflate``
are decoded as they arrive, ``identity`` is the body as it is, anything else is a 415
naming the encoding.

The body limit applies to the decoded size, and is enforced while decoding: each piece
is inflated with a cap of what is left of the limit, so a small compressed bomb is a 413
after at most ``limit`` bytes of output, never expanded whole in memory. A list of
encodings (``gzip, deflate``: applied in that order) is undone in reverse, each layer
under the same cap.
"""

from __future__ import annotations

import zlib

from engine.errors import BadRequest, GatewayError, PayloadTooLarge

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_WBITS = -zlib.MAX_WBITS


class UnsupportedEncoding(GatewayError):
    status = 415
    kind = "invalid_request"


class _Inflater:
    """One layer: zlib's streaming decompressor fed piece by piece under a byte cap."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.size = 0
        self._gzip = name == "gzip"
        self._z = zlib.decompressobj(_GZIP_WBITS if self._gzip else _ZLIB_WBITS)
        self._started = False  # deflate: still free to fall back to a raw stream (no zlib header)

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            try:
                piece = self._z.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                if self.name == "deflate" and not self._started:
                    self._started = True
                    self._z = zlib.decompressobj(_RAW_WBITS)  # "deflate" sent without its zlib wrapper
                    continue
                raise BadRequest(f"the request body is not valid {self.name} data ({exc})") from None
            self._started = True
            self.size += len(piece)
            if self.size > self.limit:
                raise PayloadTooLarge(f"the request body exceeds the limit of {self.limit} bytes once decompressed")
            out.append(piece)
            data = self._z.unconsumed_tail
            if self._z.eof:
                data = self._z.unused_data
                if data and self._gzip:  # another gzip member follows
                    self._z = zlib.decompressobj(_GZIP_WBITS)
                elif data.strip(b"\x00"):
                    raise BadRequest(f"the request body has data after the end of its {self.name} stream")
                else:
                    break
        return b"".join(out)

    def finish(self) -> None:
        if not self._z.eof:
            raise BadRequest(f"the request body ends before its {self.name} stream does (truncated)")


class BodyDecoder:
    """The decoding of one request body; ``None`` from ``body_decoder`` when there is none."""

    def __init__(self, layers: list[_Inflater]) -> None:
        self._layers = layers  # outermost (last applied) first

    def feed(self, chunk: bytes) -> bytes:
        for layer in self._layers:
            chunk = layer.feed(chunk)
        return chunk

    def finish(self) -> None:
        for layer in self._layers:
            layer.finish()


def body_decoder(header: str | None, limit: int) -> BodyDecoder | None:
    """The decoder for a ``Content-Encoding`` header value (None: nothing to decode).
    Raises ``UnsupportedEncoding`` (415) naming an encoding it cannot decode."""
    if not header:
        return None
    names = [name.strip().lower() for name in header.split(",") if name.strip()]
    layers: list[_Inflater] = []
    for name in reversed(names):
        if name == "identity":
            continue
        if name in ("gzip", "x-gzip"):
            layers.append(_Inflater("gzip", limit))
        elif name == "deflate":
            layers.append(_Inflater("deflate", limit))
        else:
            raise UnsupportedEncoding(
                f"unsupported Content-Encoding {name!r}: send the body as it is, or gzip or deflate it",
                code="unsupported_content_encoding",
            )
    return BodyDecoder(layers) if layers else None
