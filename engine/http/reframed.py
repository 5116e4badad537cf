"""A committed stream in another framing than SSE, when the client asked for one (Gemini's
``:streamGenerateContent`` without ``alt=sse`` is one JSON array): the stream's bytes go
through the client codec's ``StreamReframer`` on their way out, and its closing bytes
follow the last frame, in-band error frames included, so the client always gets a whole
document. Closing the reframed body closes the stream under it (the upstream call, its
accounting).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from providers.base import StreamReframer


def reframed(
    reframer: StreamReframer, first: bytes, rest: AsyncGenerator[bytes, None]
) -> tuple[bytes, AsyncGenerator[bytes, None]]:
    """``first`` and ``rest`` of a stream, reframed."""
    return reframer.feed(first), _rest(reframer, rest)


async def _rest(reframer: StreamReframer, rest: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in rest:
            out = reframer.feed(chunk)
            if out:
                yield out
        yield reframer.close()
    finally:
        await rest.aclose()
