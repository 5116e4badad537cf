"""Request ids: the client's own ``x-request-id`` when it is sane, else a fresh one.

Fresh ids are a per-worker random prefix and a counter (unique across workers and
restarts, one syscall per worker instead of one per request).
"""

from __future__ import annotations

import itertools
import re
import secrets

_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIds:
    def __init__(self) -> None:
        self._prefix = "req_" + secrets.token_hex(6)
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):010x}"

    def for_request(self, raw_headers: list[tuple[bytes, bytes]]) -> str:
        """The id a request carries from its raw ASGI headers."""
        for name, value in raw_headers:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                if _SANE.match(incoming):
                    return incoming
                break
        return self.new()
