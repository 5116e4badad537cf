"""In-flight requests per upstream channel, against the channel's ``max_concurrent``.

Counts are per process (each replica enforces the limit on its own share); the router can
read ``in_flight`` for the ``candidate.in_flight`` CEL variable and skip saturated channels.
"""

from __future__ import annotations

from engine.policy.compiled import ChannelSpec


class ChannelLimiter:
    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}

    def in_flight(self, channel: str) -> int:
        return self._in_flight.get(channel, 0)

    def saturated(self, channel: ChannelSpec) -> bool:
        limit = channel.max_concurrent
        return limit is not None and self.in_flight(channel.name) >= limit

    def try_acquire(self, channel: ChannelSpec) -> bool:
        """Count one more request on ``channel`` unless it is saturated."""
        if self.saturated(channel):
            return False
        self._in_flight[channel.name] = self.in_flight(channel.name) + 1
        return True

    def release(self, channel: str) -> None:
        left = self.in_flight(channel) - 1
        if left > 0:
            self._in_flight[channel] = left
        else:
            self._in_flight.pop(channel, None)
