"""Scripted replies a ``FakeUpstream`` gives: what to answer, or how to misbehave.

Each reply is an immutable description; the fake upstream plays it for one request.

* ``Json``   a complete JSON response (any status).
* ``Status`` an error status with an OpenAI-style error body unless one is given
             (e.g. 429 with ``Retry-After``).
* ``Stream`` SSE bytes sent frame by frame, ``delay_s`` apart, then a clean end.
* ``Cut``    frames sent, then the TCP connection is dropped mid-body (the chunked
             body never ends).
* ``Hang``   the request is accepted but not answered for ``seconds``, then the
             connection is dropped.
* ``Reset``  the connection is reset (RST) at once, without any response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson


def _error_body(status: int) -> bytes:
    kinds = {
        400: "invalid_request_error",
        401: "invalid_request_error",
        403: "permission_error",
        404: "invalid_request_error",
        429: "rate_limit_error",
    }
    body = {
        "error": {
            "message": f"fake upstream error {status}",
            "type": kinds.get(status, "server_error"),
            "param": None,
            "code": None,
        }
    }
    return orjson.dumps(body)


@dataclass(frozen=True, slots=True)
class Json:
    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        return orjson.dumps(self.body)


@dataclass(frozen=True, slots=True)
class Status:
    code: int
    body: Any = None  # JSON-able; None = an OpenAI-style error envelope
    headers: Mapping[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        return _error_body(self.code) if self.body is None else orjson.dumps(self.body)


@dataclass(frozen=True, slots=True)
class Stream:
    frames: list[bytes]
    delay_s: float = 0.0  # pause before every frame after the first
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Cut:
    frames: list[bytes]
    delay_s: float = 0.0  # pause before every frame after the first, and before the cut
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hang:
    seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class Reset:
    pass


Reply = Json | Status | Stream | Cut | Hang | Reset
