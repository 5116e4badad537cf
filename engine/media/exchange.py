"""One embeddings or images attempt, in the shape the executor drives (``engine.exchange``'s
``Exchange``), so these requests get the same candidates, retries, fallbacks, breakers and
attempt records as chat. Never streamed: ``finish`` decodes the upstream's whole answer and
hands it to ``answer``, which gives the client's bytes and the usage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from engine.canonical import Usage
from engine.errors import UpstreamError
from engine.exchange import Relay
from engine.resume import Continuation
from providers.base import UpstreamRequest

R = TypeVar("R")


class MediaExchange(Generic[R]):
    def __init__(
        self,
        request: UpstreamRequest,
        classify: Callable[[int, Mapping[str, str], bytes], UpstreamError],
        decode: Callable[[bytes], R],
        answer: Callable[[R], tuple[bytes, Usage]],
    ) -> None:
        self.request = request
        self._classify = classify  # the attempt's leg's: this format's errors, a refused own key (BYOK)
        self._decode = decode
        self._answer = answer

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return self._classify(status, headers, body)

    def finish(self, body: bytes) -> tuple[bytes, Usage]:
        return self._answer(self._decode(body))

    def relay(self, keep_transcript: bool = False) -> Relay:
        raise TypeError("embeddings and images are never streamed")

    def continue_relay(self, prior: Relay, continuation: Continuation) -> Relay:
        raise TypeError("embeddings and images are never streamed")
