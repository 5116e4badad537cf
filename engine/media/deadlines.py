"""Image requests' deadlines: an image takes long to generate before its first byte, so an
image model's attempt waits ``image_timeout`` (300 s by default, ``TURNOUT_IMAGE_TIMEOUT``)
for the answer's headers and in all, keeping its channel's connect timeout. Other kinds
keep their channel's deadlines. Pure."""

from __future__ import annotations

from engine.policy.compiled import CompiledPolicy, Timeouts
from engine.routing.execute import Deadlines
from engine.routing.plan import Attempt


def media_deadlines(image_timeout: float) -> Deadlines:
    def deadlines(policy: CompiledPolicy, attempt: Attempt) -> Timeouts:
        channel = policy.channels[attempt.target.channel].timeout
        if policy.models[attempt.target.model].kind != "image":
            return channel
        return Timeouts(channel.connect, image_timeout, image_timeout, image_timeout, image_timeout)

    return deadlines
